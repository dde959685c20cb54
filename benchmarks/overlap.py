"""A round's wall-clock split with and without training beside search (loop.overlap), one run after the other.

    .venv/bin/python benchmarks/overlap.py no_isosceles --set n=32 --rounds 4

Both runs use worker processes for the search (`executor.kind=process`, `--workers`, default 1, so that training
keeps a core); the overlapped one searches each round's samples during the next round's training. Prints, per
round, the round's wall-clock and its training, sampling and search seconds (in the second run the search seconds
overlap training, and sampling and search are counted in the round that searches the samples), and the best and
mean score after search.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile


def run(spec, sets, rounds, folder, name):
    run_dir = os.path.join(folder, name)
    args = [a for s in sets for a in ("--set", s)]
    subprocess.run([sys.executable, "-m", "patternboost.cli", "run", spec, "--rounds", str(rounds), "--run-dir",
                    run_dir, *args], check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("problem")
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    common = ["executor.kind=process", f"executor.workers={args.workers}", "loop.target=inf", *args.set]
    with tempfile.TemporaryDirectory() as folder:
        for overlap in (False, True):
            metrics = run(args.problem, [*common, f"loop.overlap={str(overlap).lower()}"], args.rounds, folder,
                          f"overlap-{overlap}")
            print(f"loop.overlap={str(overlap).lower()}: {metrics[-1]['elapsed_s']:.1f} s for rounds 0-{args.rounds}")
            print("  round  wall s  train s  sample s  search s  best  mean after search")
            previous = 0.0
            for m in metrics:
                mean = "-" if m["mean_score"] is None else f"{m['mean_score']:.2f}"
                print(f"  {m['round']:>5} {m['elapsed_s'] - previous:7.1f} {m['train_s']:8.1f} "
                      f"{m.get('sample_s', 0.0):9.1f} {m['search_s']:9.1f} {m['best_score']:5g}  {mean}")
                previous = m["elapsed_s"]


if __name__ == "__main__":
    main()
