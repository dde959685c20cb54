"""PatternBoost against local search alone, at an equal wall-clock budget, for any problem.

(1) Local search alone: batches of fresh searches from the problem's initial objects until the budget is
spent. (2) The PatternBoost loop with the same problem, seed and budget (its time limit is checked between
rounds, so its last round may end past the budget; only rounds finished within a checkpoint time count there).
(3) With --only mutation, the loop with its model replaced by chance: round 0 as in the loop, then each round
`sample.count` elites drawn from the pool with `--mutate` of their tokens replaced by random ones, searched
`sample.searches` times each and merged into the pool (no training, no sampling): what the learned half must beat.
With --structured the changes are those `sample.edits` makes (an ordered set stays one, separators stay), drawn
uniformly instead of by the model: the control for learned edits.
One method runs after the other, never both at once. Prints the best score at 10/30/60/... s, the time to reach
the known best, and how many searches reached it.

    .venv/bin/python benchmarks/discovery.py c4_free --set n=30 --set climb=100 --budget 300
    .venv/bin/python benchmarks/discovery.py triangle_free --set n=20 --budget 60 --set loop.initial=20000
    .venv/bin/python benchmarks/discovery.py c4_free --set climb=0 --set encoding=neighbours --budget 600 \
        --only mutation --mutate 4 --set loop.initial=200000 --set loop.pool_size=100 --set sample.count=4000 \
        --set sample.searches=4
"""
import argparse
import json
import tempfile
import time

import numpy as np

from patternboost import load_problem, tokens
from patternboost.config import EngineConfig, apply_engine_settings, parse_set
from patternboost.loop import Loop
from patternboost.pool import ElitePool
from patternboost.rundir import RunDir
from patternboost.sample import edit

CHECKPOINTS = (10, 30, 60, 120, 300, 600, 900, 1800)


def search_alone(problem, budget, seed):
    """([(elapsed, best)] each time the best improves, searches done, searches that reached the known best).
    Batches grow until one takes about a second, so slow and fast problems are both timed fairly."""
    known = problem.known_best if problem.known_best is not None else np.inf
    start, best, curve, done, hits, batch, chunk = time.time(), -np.inf, [], 0, 0, 64, 0
    while time.time() - start < budget:
        began = time.time()
        scores = problem.score(problem.local_search(problem.initial(batch, seed + chunk), seed + chunk))
        chunk, done, hits = chunk + 1, done + batch, hits + int((scores >= known).sum())
        if scores.max() > best:
            best = float(scores.max())
            curve.append((round(time.time() - start, 2), best))
        if time.time() - began < 1 and batch < 20000:
            batch *= 2
    return curve, done, hits


def patternboost(problem, spec, budget, settings, seed):
    config = EngineConfig()
    apply_engine_settings(config, {**getattr(problem, "settings", {}), "loop.time_limit": budget,
                                   "loop.device": "cpu", **settings})
    config.loop.target = float("inf")  # spend the whole budget, as search alone does
    with tempfile.TemporaryDirectory() as folder:
        run = RunDir.create(folder + "/run", {"benchmark": True})
        loop = Loop(problem, config, seed, run, spec)
        loop.run_rounds()
        records = run.metrics()
    curve = [(r["elapsed_s"], r["best_score"]) for r in records]
    hits = sum(r.get("known_best_hits") or 0 for r in records)
    fields = ("round", "searched", "known_best_hits", "round_best", "mean_score", "pool_mean", "new_elites",
              "train_s", "sample_s", "search_s", "elapsed_s")
    per_round = [{k: r.get(k) for k in fields} for r in records]
    return curve, sum(r["searched"] for r in records), hits, per_round


def mutated(problem, encoded, tokens_replaced, structured, rng):
    """Elites with random changes: tokens replaced by uniform ones, or (structured) the changes sample.edits
    makes, drawn uniformly instead of by a model (an ordered set stays one, separators stay)."""
    if not structured:
        return [mutate(e, tokens_replaced, problem.vocab_size, rng) for e in encoded]
    separator = tokens.separator_of(problem)
    rows = edit(problem.vocab_size + tokens.N_SPECIAL, tokens.pack(encoded, problem.max_length), tokens_replaced,
                1.0, int(rng.integers(2**31)), "cpu", bool(getattr(problem, "increasing", False)), separator)
    return tokens.unpack(rows)[0]


def mutation_loop(problem, budget, settings, seed, tokens_replaced, structured=False):
    """The loop's selection without its model: elites with random changes (mutated()) stand in for the samples."""
    config = EngineConfig()
    apply_engine_settings(config, {**getattr(problem, "settings", {}), **settings})
    rng, pool = np.random.default_rng(seed), ElitePool(config.loop.pool_size)
    start, curve, per_round, done, hits, round_ = time.time(), [], [], 0, 0, 0
    known = problem.known_best if problem.known_best is not None else np.inf
    while time.time() - start < budget:
        if round_ == 0:
            starts = problem.initial(config.loop.initial, seed)
        else:
            encoded = problem.encode(pool.objects)
            picks = rng.integers(0, len(pool), config.sample.count)
            starts, _ = problem.decode(mutated(problem, [encoded[i] for i in picks], tokens_replaced, structured, rng))
            starts = np.repeat(starts, config.sample.searches, axis=0)
        improved = problem.local_search(starts, seed + 1000 * round_)
        scores = problem.score(improved)
        pool.merge(improved, scores, problem.canonical_key(improved), round_)
        done, hits = done + len(scores), hits + int((scores >= known).sum())
        elapsed, best = round(time.time() - start, 2), float(pool.scores.max())
        if not curve or best > curve[-1][1]:
            curve.append((elapsed, best))
        per_round.append({"round": round_, "searched": len(scores), "mean_score": float(scores.mean()),
                          "pool_mean": float(pool.scores.mean()), "best": best, "elapsed_s": elapsed})
        if best >= known:
            break
        round_ += 1
    return curve, done, hits, per_round


def mutate(sequence, k, vocab_size, rng):
    """The sequence with k of its tokens (positions drawn without replacement) replaced by uniform random ones."""
    out = np.array(sequence, dtype=np.int64)
    out[rng.choice(len(out), min(k, len(out)), replace=False)] = rng.integers(0, vocab_size, min(k, len(out)))
    return out


def best_at(curve, t):
    scores = [score for elapsed, score in curve if elapsed <= t]
    return max(scores) if scores else None


def time_to(curve, target):
    return next((elapsed for elapsed, score in curve if target is not None and score >= target), None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="problem parameter (n=30) or PatternBoost engine setting (train.steps=500)")
    parser.add_argument("--budget", type=float, default=300, help="seconds per method")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("search", "patternboost", "mutation"),
                        help="run one method only (mutation: only on request)")
    parser.add_argument("--mutate", type=int, default=4, help="mutation: tokens replaced per elite")
    parser.add_argument("--structured", action="store_true",
                        help="mutation: the changes sample.edits makes, drawn uniformly (no model)")
    parser.add_argument("--json", help="append the result rows here (JSON lines)")
    args = parser.parse_args()
    params, settings = parse_set(args.set)
    problem = load_problem(args.problem, **params)
    problem.local_search(problem.initial(4, 0), 0)  # compile the kernels outside both budgets
    methods = {"local search alone": lambda: (*search_alone(problem, args.budget, args.seed), []),
               "PatternBoost": lambda: patternboost(problem, args.problem, args.budget, settings, args.seed)}
    if args.only == "mutation":
        methods = {"mutation loop": lambda: mutation_loop(problem, args.budget, settings, args.seed, args.mutate,
                                                                  args.structured)}
    elif args.only:
        methods = {k: v for k, v in methods.items() if (k == "PatternBoost") == (args.only == "patternboost")}
    for name, method in methods.items():
        curve, searches, hits, per_round = method()
        row = {"problem": args.problem, "params": params, "known_best": problem.known_best, "method": name,
               "budget_s": args.budget, "searches": searches, "rounds": len(per_round) - 1 if per_round else None,
               "best": max(score for _, score in curve), "known_best_hits": hits,
               "time_to_known_s": time_to(curve, problem.known_best),
               **{f"best@{t}s": best_at(curve, t) for t in CHECKPOINTS if t <= args.budget},
               "settings": settings if name != "local search alone" else {},
               **({"mutate": args.mutate, "structured": args.structured} if name == "mutation loop" else {}),
               "per_round": per_round, "curve": curve}
        print(json.dumps({k: v for k, v in row.items() if k not in ("curve", "per_round")}), flush=True)
        for record in per_round:
            print("   ", json.dumps(record), flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
