"""Why are the model's samples poor seeds? Train on the best of many searches, then sample several ways.

The pool: the best `--pool` of `--searches` local searches from the problem's initial objects. The model: the
default one, trained `--steps` steps on the pool. For each of SETTINGS (temperature, top-k, nucleus, order enforced
or not) it samples 1,000 rows and reports their mean length in tokens, the mean score after local search, the share
at or above `--high` (default: the pool's worst) and how many distinct objects at or above the pool's worst are not
in the pool (what lets a round add elites), next to the same figures for searches from initial() and from
elites with k of their tokens replaced by random ones (mutation without a model: what the model has to beat), and
from elites with k tokens changed by the model (`sample.edits`, at temperatures 1 and 2) or the same kind of
changes drawn uniformly (the control for learning).

    .venv/bin/python benchmarks/seed_quality.py c4_free --set climb=0 --pool 100 --steps 1000 --high 85
    .venv/bin/python benchmarks/seed_quality.py c4_free --set climb=0 --set encoding=neighbours --steps 300 --high 85
    .venv/bin/python benchmarks/seed_quality.py no_isosceles --set n=32 --searches 20000 --pool 2000
"""
import argparse

import numpy as np
import torch
from discovery import mutate

from patternboost import load_problem, tokens
from patternboost.config import ModelConfig, TrainConfig
from patternboost.model import GPT, GPTConfig
from patternboost.sample import edit, sample
from patternboost.train import Trainer, sequence_batches

MUTATED_TOKENS = (1, 2, 4, 8, 16)
# (temperature, top_k, top_p, ordered)
SETTINGS = [(1.0, 0, 1.0, True), (0.7, 0, 1.0, True), (1.0, 5, 1.0, True), (0.7, 2, 1.0, True), (1.0, 0, 0.9, True),
            (1.0, 0, 0.5, True), (1.0, 0, 1.0, False), (0.7, 0, 1.0, False)]


def line(name, length, scores, high, new=""):
    print(f"{name:<30} tokens {length:5.1f}   after search: mean {scores.mean():.2f}  max {scores.max():g}  "
          f">= {high:g}: {(scores >= high).mean():5.1%}{new}", flush=True)


def report(problem, name, sequences, floor, high, known):
    """Decode, search once from each, and print the line."""
    objects, _ = problem.decode(sequences)
    improved = problem.local_search(objects, 7)
    after = problem.score(improved)
    new = {k for k, x in zip(problem.canonical_key(improved).tolist(), after) if x >= floor and k not in known}
    line(name, np.mean([len(s) for s in sequences]), after, high, f"  new objects >= pool min {floor:g}: {len(new)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a problem parameter")
    parser.add_argument("--searches", type=int, default=200000)
    parser.add_argument("--pool", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--high", type=float, help="report the share at or above this score")
    args = parser.parse_args()
    problem = load_problem(args.problem, **dict(s.split("=", 1) for s in args.set))
    searched = problem.local_search(problem.initial(args.searches, 0), 1)
    scores = problem.score(searched)
    pool = searched[np.argsort(-scores)[: args.pool]]
    pool_scores = problem.score(pool)
    floor = pool_scores.min()
    high = floor if args.high is None else args.high
    print(f"pool: best {args.pool} of {args.searches:,} searches, mean {pool_scores.mean():.2f}")
    line("from initial()", 0, scores[:1000], high)
    known = set(problem.canonical_key(pool).tolist())
    encoded = problem.encode(pool)
    rng = np.random.default_rng(0)
    for k in MUTATED_TOKENS:
        mutants = [mutate(encoded[i], k, problem.vocab_size, rng) for i in rng.integers(0, len(pool), 1000)]
        report(problem, f"elites, {k} tokens at random", mutants, floor, high, known)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=problem.vocab_size + tokens.N_SPECIAL, block_size=problem.max_length + 2,
                          **ModelConfig().architecture()))
    trainer = Trainer(model, TrainConfig(), torch.device("cpu"))
    rows = tokens.pack(problem.encode(pool), problem.max_length)
    losses, _ = trainer.train(sequence_batches(rows, 64, 0), 0, args.steps)
    print(f"trained {args.steps} steps, loss {np.mean(losses[-50:]):.3f}")
    increasing = bool(getattr(problem, "increasing", False))
    separator = tokens.separator_of(problem)
    for temperature, top_k, top_p, ordered in SETTINGS:
        sequences, _ = tokens.unpack(sample(model, 1000, temperature, top_k, 5, "cpu", increasing=ordered and
                                            increasing, top_p=top_p, separator=separator))
        report(problem, f"T {temperature} top_k {top_k} top_p {top_p}{'' if ordered else ' unordered'}",
               sequences, floor, high, known)
    elites = rows[np.random.default_rng(1).integers(0, len(pool), 1000)]
    for k in MUTATED_TOKENS:
        for who, temperature in ((model.config.vocab_size, 1.0), (model, 1.0), (model, 2.0)):
            edited = edit(who, elites, k, temperature, 3, "cpu", increasing, separator)
            name = "drawn uniformly" if who is not model else f"by the model, T {temperature:g}"
            report(problem, f"elites, {k} edits {name}", tokens.unpack(edited)[0], floor, high, known)


if __name__ == "__main__":
    main()
