"""Local searches per second per core: a problem's numba kernel vs a straightforward numpy version, side by side.

The numpy version of problem NAME lives in benchmarks/numpy_baselines/NAME.py as
`local_search(problem, batch, rng) -> batch` (or give --baseline path.py). Both start from the
problem's own initial objects; their score distributions should agree (printed with a z-score).

    .venv/bin/python benchmarks/throughput.py no_isosceles --set n=32 --numba-searches 2000 --numpy-searches 20
"""
import argparse
import importlib.util
import json
import os
import platform
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the numpy baseline runs on one core

import numba
import numpy as np

from patternboost import load_problem
from patternboost.config import parse_set

HERE = os.path.dirname(os.path.abspath(__file__))


def load_baseline(path):
    spec = importlib.util.spec_from_file_location("numpy_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.local_search


def timed(search, batch):
    start = time.perf_counter()
    out = search(batch)
    return out, time.perf_counter() - start


def summary(scores):
    return {"mean": round(float(scores.mean()), 3), "std": round(float(scores.std()), 3),
            "max": float(scores.max()), "count": len(scores)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="problem parameter")
    parser.add_argument("--numba-searches", type=int, default=2000)
    parser.add_argument("--numpy-searches", type=int, default=20)
    parser.add_argument("--baseline", help="numpy baseline file (default: numpy_baselines/<problem name>.py)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    params, _ = parse_set(args.set)
    problem = load_problem(args.problem, **params)
    baseline = load_baseline(args.baseline or os.path.join(HERE, "numpy_baselines", f"{problem.name}.py"))

    threads = numba.get_num_threads()
    problem.local_search(problem.initial(4, args.seed), args.seed)  # compile outside the timings
    results = {}
    for label, n_threads in (("numba, 1 thread", 1), (f"numba, {threads} threads", threads)):
        numba.set_num_threads(n_threads)
        batch = problem.initial(args.numba_searches, args.seed)
        out, seconds = timed(lambda b: problem.local_search(b, args.seed), batch)
        results[label] = (problem.score(out), seconds)
    numba.set_num_threads(threads)
    rng = np.random.default_rng(args.seed)
    batch = problem.initial(args.numpy_searches, args.seed + 1)
    out, seconds = timed(lambda b: baseline(problem, b, rng), batch)
    results["numpy, 1 core"] = (problem.score(out), seconds)

    print(f"{args.problem} {params} on {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores")
    rates = {}
    for label, (scores, seconds) in results.items():
        rates[label] = len(scores) / seconds
        print(f"  {label:18s} {rates[label]:12.1f} searches/s   scores {summary(scores)}")
    numpy_scores = results["numpy, 1 core"][0]
    numba_scores = results["numba, 1 thread"][0]
    spread = np.sqrt(numba_scores.var() / len(numba_scores) + numpy_scores.var() / len(numpy_scores))
    z = (numba_scores.mean() - numpy_scores.mean()) / spread if spread > 0 else 0.0
    ratio = rates["numba, 1 thread"] / rates["numpy, 1 core"]
    print(f"  per-core speed-up numba/numpy: {ratio:.1f}x; difference of mean scores: z = {z:.2f}")
    print(json.dumps({"problem": args.problem, "params": params, "numba_per_core": round(rates["numba, 1 thread"], 1),
                      "numpy_per_core": round(rates["numpy, 1 core"], 2), "speedup": round(ratio, 1),
                      "z": round(float(z), 2)}))


if __name__ == "__main__":
    main()
