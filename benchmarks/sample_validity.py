"""Do the model's samples decode, and are they better starting points than the problem's own? Per problem, one
run of round 0 and round 1 with the problem's recommended settings: the share of round 1's samples that decode
(not in invalid_samples) and the mean score after local search from samples (round 1) and from initial()
(round 0).

    .venv/bin/python benchmarks/sample_validity.py                      # every built-in problem and cap_set
    .venv/bin/python benchmarks/sample_validity.py --set sample.ordered=false   # without ordered sampling

Each run goes to a temporary folder; one line per problem, and a Markdown table at the end.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib

PROBLEMS = {
    "c4_free": ["n=33", "climb=0"],
    "triangle_free": ["n=20"],
    "no_isosceles": ["n=32"],
    "hypercube_gh": ["d=6"],
    "permanent_avoid": ["n=12"],
    "examples/cap_set.py:CapSet": ["n=6"],
}


def run(spec, params, extra, folder):
    run_dir = os.path.join(folder, spec.replace("/", "_").replace(":", "_"))
    sets = [a for s in ["loop.target=inf", *params, *extra] for a in ("--set", s)]  # round 1 even at the optimum
    started = time.time()
    subprocess.run([sys.executable, "-m", "patternboost.cli", "run", spec, "--rounds", "1", "--run-dir", run_dir,
                    *sets], check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        rounds = [json.loads(line) for line in f]
    with open(os.path.join(run_dir, "run.toml"), "rb") as f:
        count = tomllib.load(f)["sample"]["count"]
    return rounds, count, time.time() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", default=[], help="engine settings for every run")
    parser.add_argument("--only", nargs="+", help="these problems only")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for spec, params in PROBLEMS.items():
            if args.only and spec not in args.only:
                continue
            (first, second), count, seconds = run(spec, params, args.set, folder)
            valid = 1 - second["invalid_samples"] / count
            rows.append((spec, " ".join(params), valid, first["mean_score"], second["mean_score"], seconds))
            print(f"{spec} {' '.join(params)}: {valid:.1%} of {count} samples decode; mean after search "
                  f"{first['mean_score']:.2f} from initial(), {second['mean_score']:.2f} from samples "
                  f"[{seconds:.0f} s]", flush=True)
    print("\n| problem | parameters | samples that decode | mean after search: from initial() | from samples |")
    print("|---|---|---|---|---|")
    for spec, params, valid, first, second, _ in rows:
        print(f"| `{spec}` | {params} | {valid:.1%} | {first:.2f} | {second:.2f} |")


if __name__ == "__main__":
    main()
