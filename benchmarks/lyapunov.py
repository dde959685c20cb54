"""Lyapunov discovery, measured: a trained run's verified accuracy by beam width, the model against the SOS baseline
on the same random systems, and the verifier's time per candidate and over worker processes.

    # accuracy on the run's held-out sets (backward: in distribution; forward: out of distribution) at each
    # beam width, and on 100 plausibly stable random systems, side by side with the SOS baseline
    .venv/bin/python benchmarks/lyapunov.py accuracy runs/lyapunov-20261202-100000 --beams 1 20 --random 100
    # verification time per candidate (SOS proofs, numeric checks), inline against 2 worker processes
    .venv/bin/python benchmarks/lyapunov.py verify --pairs 200 --workers 2

Accuracy counts verified answers only (the verifier's `valid` / `valid_numeric`), never string equality with a
generator's V. Every result is appended as a JSON line to benchmarks/results/lyapunov.jsonl.
"""
import argparse
import functools
import json
import os
import time

import numpy as np

from patternboost import tokens
from patternboost.executor import ExecutorConfig, make_executor
from patternboost.families.discovery import verify_one
from patternboost.tasks import prompt_rows
from problems.lyapunov import expressions, forward, generate, sos, verify

RESULTS = os.path.join(os.path.dirname(__file__), "results", "lyapunov.jsonl")
RANDOM_SEED = 10**9 + 7  # random systems apart from any run's stage seeds


def record(result):
    with open(RESULTS, "a") as f:
        f.write(json.dumps(result) + "\n")
    print(json.dumps(result))


def solved_shares(family, decoder, executor, prompts, beam):
    """For each prompt, whether one of its `beam` candidates verifies; and the seconds spent decoding."""
    started = time.time()
    beams = []
    for first in range(0, len(prompts), 25):
        beams += decoder.beams_batch(prompt_rows(prompts[first:first + 25]), beam, family.plugin.max_answer + 1)
    decoding = time.time() - started
    pairs = [(p, answer - tokens.N_SPECIAL) for p, found in zip(prompts, beams) for answer, _ in found]
    outcomes = executor.map(functools.partial(verify_one, family.ref), pairs, [0] * len(pairs), 60.0)
    statuses, solved, k = [o.value if o.ok else o.failure for o in outcomes], [], 0
    for found in beams:
        solved.append(any(s in family.plugin.solved for s in statuses[k:k + len(found)]))
        k += len(found)
    return np.array(solved), decoding


def sos_one(prompt, seed):
    return sos.find_lyapunov(expressions.decode_system(expressions.from_ids(prompt))) is not None


def accuracy(args):
    from patternboost.cli import trained

    family, decoder = trained(argparse.Namespace(run_dir=args.run_dir, device=args.device))
    executor = make_executor(ExecutorConfig(kind="process", workers=args.workers, timeout=60.0))
    sets = dict(family.tests)
    if args.random:
        sets["random"] = family.plugin.problems(args.random, RANDOM_SEED)
    result = {"benchmark": "accuracy", "run": args.run_dir, "sets": {}}
    try:
        for name, prompts in sets.items():
            row = {"size": len(prompts)}
            for beam in args.beams:
                solved, seconds = solved_shares(family, decoder, executor, prompts, beam)
                row[f"beam{beam}"] = round(float(solved.mean()), 3)
                row[f"beam{beam}_decode_s"] = round(seconds, 1)
            if name == "random":  # the SOS baseline on the same systems, with the same verifier
                baseline = np.array([o.value if o.ok else False for o in
                                     executor.map(sos_one, prompts, [0] * len(prompts), 120.0)])
                row["sos"] = round(float(baseline.mean()), 3)
                row["model_only"] = int((solved & ~baseline).sum())  # at the widest beam
                row["union"] = round(float((solved | baseline).mean()), 3)
            result["sets"][name] = row
    finally:
        executor.close()
    record(result)


def timed_statuses(executor, pairs):
    started = time.time()
    outcomes = executor.map(_verify_timed, pairs, [0] * len(pairs), 120.0)
    return time.time() - started, [o.value for o in outcomes]


def _verify_timed(pair, seed):
    """One verdict and its seconds, from a cold sympy cache: the pairs were built in this process, and a warm
    cache would make inline passes look faster than worker processes, which get them unpickled."""
    import sympy

    sympy.core.cache.clear_cache()
    started = time.time()
    status = verify.verify(*pair).status
    return status, time.time() - started


def verify_timing(args):
    configs = {"polynomial": generate.POLYNOMIAL, "non_polynomial": generate.NON_POLYNOMIAL}
    result = {"benchmark": "verify", "pairs": args.pairs, "cores": os.cpu_count()}
    for name, config in configs.items():
        pairs = [generate.backward_pair(seed, config) for seed in range(args.pairs)]
        row, times = {}, None
        for workers in (0, args.workers):
            kind = "inline" if workers == 0 else "process"
            executor = make_executor(ExecutorConfig(kind=kind, workers=workers))
            try:
                warm = pairs[:2 * max(1, workers)]  # start the workers, import sympy and cvxpy in each
                executor.map(_verify_timed, warm, [0] * len(warm), 120.0)
                wall, values = timed_statuses(executor, pairs)
            finally:
                executor.close()
            row[f"{kind}_{workers}_s"] = round(wall, 2)
            if times is None:  # per candidate, from the inline pass: one at a time, nothing else running
                times = np.array([t for _, t in values]) * 1000
        row.update({"valid": sum(s in ("valid", "valid_numeric") for s, _ in values),
                    "ms_p50": round(float(np.median(times)), 1), "ms_p90": round(float(np.percentile(times, 90)), 1),
                    "ms_max": round(float(times.max()), 1),
                    "speedup": round(row["inline_0_s"] / row[f"process_{args.workers}_s"], 2)})
        result[name] = row
    systems = [forward.stable_system(RANDOM_SEED + k) for k in range(args.pairs // 4)]
    started = time.time()
    found = sum(sos.find_lyapunov(s) is not None for s in systems)
    result["sos_baseline"] = {"systems": len(systems), "found": found,
                              "s_per_system": round((time.time() - started) / len(systems), 3)}
    record(result)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    acc = sub.add_parser("accuracy")
    acc.add_argument("run_dir")
    acc.add_argument("--beams", type=int, nargs="+", default=[1, 20])
    acc.add_argument("--random", type=int, default=100, help="plausibly stable random systems (0: none)")
    acc.add_argument("--workers", type=int, default=0, help="verifier processes (0: one per core)")
    acc.add_argument("--device", default="cpu")
    ver = sub.add_parser("verify")
    ver.add_argument("--pairs", type=int, default=200)
    ver.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    accuracy(args) if args.command == "accuracy" else verify_timing(args)


if __name__ == "__main__":
    main()
