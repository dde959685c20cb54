"""PatternBoost vs local search alone on C4-free graphs, at equal wall-clock budgets.

For each n: (1) local search alone: batches of fresh searches from the empty graph
until the budget is spent; (2) the PatternBoost loop with the same local search and
the same budget. Prints the best score over time and the time to reach ex(n; C4).

    .venv/bin/python benchmarks/discovery.py --n 20 25 30 33 --budget 300 --climb 0
"""
import argparse
import json
import tempfile
import time

import numpy as np

from patternboost import load_problem
from patternboost.config import EngineConfig, apply_engine_settings
from patternboost.loop import Loop
from patternboost.rundir import RunDir

CHECKPOINTS = (10, 30, 60, 120, 300, 600, 900)


def search_alone(problem, budget, batch, seed):
    """[(elapsed, best)] each time the best improves."""
    start, best, curve, i = time.time(), -np.inf, [], 0
    while time.time() - start < budget:
        found = problem.score(problem.local_search(problem.initial(batch, seed + i), seed + i)).max()
        i += 1
        if found > best:
            best = found
            curve.append((time.time() - start, float(best)))
            if best >= problem.known_best:
                break
    return curve, i * batch


def patternboost(problem, budget, settings, seed):
    config = EngineConfig()
    apply_engine_settings(config, {"loop.time_limit": budget, "loop.device": "cpu", **settings})
    with tempfile.TemporaryDirectory() as folder:
        run = RunDir.create(folder + "/run", {"benchmark": True})
        loop = Loop(problem, config, seed, run, "c4_free")
        loop.run_rounds()
        curve = [(r["elapsed_s"], r["best_score"]) for r in run.metrics()]
    return curve, loop.round


def best_at(curve, t):
    scores = [score for elapsed, score in curve if elapsed <= t]
    return max(scores) if scores else None


def time_to(curve, target):
    return next((elapsed for elapsed, score in curve if score >= target), None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[20, 25, 30, 33])
    parser.add_argument("--budget", type=float, default=300, help="seconds per method and n")
    parser.add_argument("--climb", type=int, default=0, help="iterated-greedy steps per local search")
    parser.add_argument("--search-batch", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], help="engine setting for PatternBoost, key=value")
    parser.add_argument("--json", help="also write the curves here")
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.set)
    results = []
    for n in args.n:
        problem = load_problem("c4_free", n=n, climb=args.climb)
        # Warm the kernels so compilation is not charged to either method.
        problem.local_search(problem.initial(4, 0), 0)
        alone, searches = search_alone(problem, args.budget, args.search_batch, args.seed)
        boosted, rounds = patternboost(problem, args.budget, settings, args.seed)
        for name, curve, work in (("local search alone", alone, f"{searches} searches"),
                                  ("PatternBoost", boosted, f"{rounds} rounds")):
            row = {"n": n, "known": problem.known_best, "method": name, "climb": args.climb, "work": work,
                   "time_to_known_s": time_to(curve, problem.known_best),
                   **{f"best@{t}s": best_at(curve, t) for t in CHECKPOINTS if t <= args.budget},
                   "curve": curve}
            results.append(row)
            shown = {k: v for k, v in row.items() if k != "curve"}
            print(json.dumps(shown), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
