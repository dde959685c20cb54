"""Why are the model's samples poor seeds? Train on the top of plain searches, then sample several ways.

The pool: the best `--pool` of 200,000 plain local searches (C4-free, n = 33, climb = 0), encoded as edges. The
model: the default one, trained `--steps` steps on the pool. For each (temperature, top_k) it samples 1,000 rows
(in increasing order as the loop does, or not) and reports their mean length in tokens, the mean score after local search
the share at or above `--high` and how many distinct graphs at or above the pool's
worst are not in the pool (what lets a round add elites), next to the same figures for searches from the empty graph.

    .venv/bin/python benchmarks/seed_quality.py --pool 100 --steps 1000
"""
import argparse

import numpy as np
import torch

from patternboost import load_problem, tokens
from patternboost.config import ModelConfig, TrainConfig
from patternboost.model import GPT, GPTConfig
from patternboost.sample import sample
from patternboost.train import Trainer, sequence_batches

SETTINGS = [(1.0, 0, True), (0.7, 0, True), (1.0, 5, True), (0.7, 2, True), (1.0, 0, False), (0.7, 0, False),
            (1.0, 5, False)]  # (temperature, top_k, ordered)


def line(name, length, scores, high, new=""):
    print(f"{name:<30} tokens {length:5.1f}   after search: mean {scores.mean():.2f}  max {scores.max():g}  "
          f">= {high:g}: {(scores >= high).mean():5.1%}{new}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=33)
    parser.add_argument("--pool", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--high", type=float, default=85)
    args = parser.parse_args()
    problem = load_problem("c4_free", n=args.n, climb=0)
    searched = problem.local_search(problem.initial(200000, 0), 1)
    scores = problem.score(searched)
    pool = searched[np.argsort(-scores)[: args.pool]]
    print(f"pool: best {args.pool} of 200,000 plain searches, mean {problem.score(pool).mean():.2f}")
    line("from the empty graph", 0, scores[:1000], args.high)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=problem.vocab_size + tokens.N_SPECIAL, block_size=problem.max_length + 2,
                          **ModelConfig().architecture()))
    trainer = Trainer(model, TrainConfig(), torch.device("cpu"))
    rows = tokens.pack(problem.encode(pool), problem.max_length)
    losses, _ = trainer.train(sequence_batches(rows, 64, 0), 0, args.steps)
    print(f"trained {args.steps} steps, loss {np.mean(losses[-50:]):.3f}")
    known = set(problem.canonical_key(pool).tolist())
    floor = problem.score(pool).min()
    for temperature, top_k, ordered in SETTINGS:
        sequences, _ = tokens.unpack(sample(model, 1000, temperature, top_k, 5, "cpu", increasing=ordered))
        objects, _ = problem.decode(sequences)
        improved = problem.local_search(objects, 7)
        after = problem.score(improved)
        new = {k for k, x in zip(problem.canonical_key(improved).tolist(), after) if x >= floor and k not in known}
        line(f"T {temperature} top_k {top_k}{'' if ordered else ' unordered'}",
             np.mean([len(s) for s in sequences]), after, args.high, f"  new graphs >= pool min {floor:g}: {len(new)}")


if __name__ == "__main__":
    main()
