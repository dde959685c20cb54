"""Local search through each executor, side by side in one run: in-process, Ray with 1 and 2 workers (and
process workers for comparison), then a simulated many-worker Ray run (8 workers sharing the CPUs) that must end
identical to in-process; and the Ray per-task overhead (empty chunks, round trip through a started worker).

    .venv/bin/python benchmarks/scale_out.py --problem no_isosceles --set n=16 --chunks 16 --chunk 1000

In-process numba kernels run their batch in parallel over every core, so "inline" uses all of them; one Ray or
process worker uses one core.
"""
import argparse
import functools
import hashlib
import json
import time

import numpy as np

from patternboost import load_problem
from patternboost.executor import InlineExecutor, ProcessExecutor
from patternboost.families import PluginRef, stage_seed
from patternboost.families.constructions import search_chunk
from patternboost.ray_executor import RayExecutor


def nothing(chunk, seed):
    return seed


def digest(outcomes):
    """A hash of every chunk's searched objects and scores, in chunk order."""
    h = hashlib.sha256()
    for outcome in outcomes:
        assert outcome.ok, outcome.detail
        improved, scores, _ = outcome.value
        h.update(np.ascontiguousarray(improved).tobytes())
        h.update(np.ascontiguousarray(scores).tobytes())
    return h.hexdigest()[:16]


def timed(executor, fn, chunks, seeds):
    executor.map(fn, chunks[:2], seeds[:2])  # workers started, kernels and plugin loaded
    start = time.perf_counter()
    outcomes = executor.map(fn, chunks, seeds)
    return time.perf_counter() - start, outcomes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="no_isosceles")
    parser.add_argument("--set", action="append", default=["n=16"], metavar="KEY=VALUE")
    parser.add_argument("--chunks", type=int, default=16)
    parser.add_argument("--chunk", type=int, default=1000, help="searches per chunk")
    parser.add_argument("--tasks", type=int, default=400, help="empty tasks for the per-task overhead")
    args = parser.parse_args()
    params = dict(item.split("=", 1) for item in args.set)
    problem = load_problem(args.problem, **params)
    fn = functools.partial(search_chunk, PluginRef(problem, args.problem))
    chunks = [problem.initial(args.chunk, i) for i in range(args.chunks)]
    seeds = [stage_seed(0, 1, "search", i) for i in range(args.chunks)]
    searches = args.chunks * args.chunk
    rows = []
    inline_s, outcomes = timed(InlineExecutor(), fn, chunks, seeds)
    reference = digest(outcomes)
    rows.append({"executor": "inline (all cores)", "seconds": inline_s, "digest": reference})
    for workers in (1, 2):
        executor = ProcessExecutor(workers)
        seconds, outcomes = timed(executor, fn, chunks, seeds)
        executor.close()
        rows.append({"executor": f"process x{workers}", "seconds": seconds, "digest": digest(outcomes)})
    for workers in (1, 2, 8):
        started = time.perf_counter()
        executor = RayExecutor(workers=workers)
        startup = time.perf_counter() - started
        seconds, outcomes = timed(executor, fn, chunks, seeds)
        row = {"executor": f"ray x{workers}", "seconds": seconds, "digest": digest(outcomes),
               "connect_s": round(startup, 2)}
        if workers == 1:
            executor.map(nothing, [0], [0])
            start = time.perf_counter()
            executor.map(nothing, [0] * args.tasks, list(range(args.tasks)))
            row["per_task_ms"] = round(1000 * (time.perf_counter() - start) / args.tasks, 2)
        executor.close()
        rows.append(row)
    print(f"{args.problem} {params}: {args.chunks} chunks of {args.chunk} searches")
    for row in rows:
        row["searches_per_s"] = round(searches / row["seconds"])
        row["vs_inline"] = round(inline_s / row["seconds"], 2)
        row["identical"] = row["digest"] == reference
        row["seconds"] = round(row["seconds"], 2)
        print(json.dumps(row))


if __name__ == "__main__":
    main()
