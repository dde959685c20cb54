"""Learned against uniform edits on the main job, seed by seed: the round in which each loop first reaches 96.

    python benchmarks/edits_study.py --seeds 31 40          # runs both loops per seed, one core each, at once
    python benchmarks/edits_study.py --summary               # the table and the tests, from the JSON alone

Both loops are the README's main job (configs/c4-headline-cpu.toml) with `--rounds 10`; the uniform one draws
every allowed change equally likely (sample.temperature=1000). A run is determined by its seed, so the rounds do
not depend on how loaded the machine is. Results are merged into RESULTS, one entry per seed and loop.
"""
import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

from patternboost.rundir import write_atomic

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks/results/c4_headline/edits/rounds_to_96_by_seed.json"
CONFIG = ROOT / "configs/c4-headline-cpu.toml"
LOOPS = {"learned": [], "uniform": ["--set", "sample.temperature=1000", "--set", "sample.max_temperature=1000"]}
ROUNDS = 10


def run_seed(seed, work):
    """Both loops for one seed, side by side; returns {loop: {round_96, last_round, cap}}."""
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    procs = {}
    for loop, extra in LOOPS.items():
        run_dir = work / f"{loop}_{seed}"
        cmd = [sys.executable, "-m", "patternboost.cli", "run", "--config", str(CONFIG), "--seed", str(seed),
               "--rounds", str(ROUNDS), "--run-dir", str(run_dir), *extra]
        procs[loop] = (subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), run_dir)
    out = {}
    for loop, (proc, run_dir) in procs.items():
        if proc.wait() != 0:
            raise SystemExit(f"seed {seed}, {loop}: the run failed (see {run_dir}/log.txt)")
        out[loop] = first_round_at(run_dir / "metrics.jsonl", 96)
    return out


def first_round_at(metrics, target):
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    hit = next((r["round"] for r in rows if r["best_score"] >= target), None)
    return {"round_96": hit, "last_round": rows[-1]["round"], "cap": ROUNDS}


def binomial_two_sided(k, n):
    """P(a fair sign test gives a split at least as uneven as k of n)."""
    tail = sum(math.comb(n, i) for i in range(min(k, n - k) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def fisher_two_sided(a, b, c, d):
    """Fisher's exact test on [[a, b], [c, d]]: the probability of tables no more likely than this one."""
    rows, col, n = (a + b, c + d), a + c, a + b + c + d

    def p(x):
        return math.comb(rows[0], x) * math.comb(rows[1], col - x) / math.comb(n, col)
    observed = p(a)
    lo, hi = max(0, col - rows[1]), min(rows[0], col)
    return sum(p(x) for x in range(lo, hi + 1) if p(x) <= observed * (1 + 1e-9))


def summary(results):
    seeds = sorted(results, key=int)
    rounds = {loop: [results[s][loop]["round_96"] for s in seeds] for loop in LOOPS}
    # A loop that had not reached 96 by round 10 counts as "not by round 10" whatever its cap was.
    late = {loop: [r if r is not None and r <= ROUNDS else None for r in rs] for loop, rs in rounds.items()}
    found = sorted({r for rs in late.values() for r in rs if r is not None})
    lines = [f"{len(seeds)} seeds ({seeds[0]}-{seeds[-1]}): round that reached 96",
             "| | " + " | ".join(map(str, found)) + f" | not by round {ROUNDS} |",
             "|---" * (len(found) + 2) + "|"]
    for loop, rs in late.items():
        cells = [str(rs.count(r)) if rs.count(r) else "" for r in found] + [str(rs.count(None))]
        lines.append(f"| {loop} edits | " + " | ".join(cells) + " |")
    pairs = [(ROUNDS + 1 if a is None else a, ROUNDS + 1 if b is None else b)
             for a, b in zip(late["learned"], late["uniform"])]
    earlier, later = sum(a < b for a, b in pairs), sum(a > b for a, b in pairs)
    lines.append(f"learned earlier in {earlier}, later in {later}, level in {len(seeds) - earlier - later}: "
                 f"sign test p = {binomial_two_sided(earlier, earlier + later):.3f}")
    by4 = [sum(r is not None and r <= 4 for r in rs) for rs in late.values()]
    n = len(seeds)
    lines.append(f"96 by round 4: learned {by4[0]}, uniform {by4[1]} of {n}: Fisher p = "
                 f"{fisher_two_sided(by4[0], n - by4[0], by4[1], n - by4[1]):.3f}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs=2, metavar=("FIRST", "LAST"))
    parser.add_argument("--work", type=Path, default=Path("runs/edits_study"), help="where the runs go")
    parser.add_argument("--summary", action="store_true", help="only print the table and tests")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if args.seeds and not args.summary:
        for seed in range(args.seeds[0], args.seeds[1] + 1):
            results[str(seed)] = run_seed(seed, args.work)
            write_atomic(RESULTS, json.dumps(results, indent=1) + "\n")
            print(f"seed {seed}: {results[str(seed)]}", flush=True)
    print(summary(results))


if __name__ == "__main__":
    main()
