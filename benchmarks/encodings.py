"""Cost of the C4 token encodings: sequence length and training steps/s per encoding.

    .venv/bin/python benchmarks/encodings.py --n 25 33
"""
import argparse
import time

import torch

from patternboost import load_problem, tokens
from patternboost.config import ModelConfig, TrainConfig
from patternboost.model import GPT, GPTConfig
from patternboost.train import Trainer, sequence_batches


def measure(n, encoding, steps):
    problem = load_problem("c4_free", n=n, encoding=encoding, climb=0)
    elites = problem.local_search(problem.initial(1000, 0), 0)
    sequences = problem.encode(elites)
    rows = tokens.pack(sequences, problem.max_length)
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=problem.vocab_size + tokens.N_SPECIAL, block_size=problem.max_length + 2,
                       **ModelConfig().architecture())
    model = GPT(config)
    trainer = Trainer(model, TrainConfig(), torch.device("cpu"))
    source = sequence_batches(rows, 64, 0)
    trainer.train(source, 0, 2)
    start = time.time()
    trainer.train(source, 2, 2 + steps)
    train_rate = steps / (time.time() - start)
    length = sum(map(len, sequences)) / len(sequences)
    print(f"| {n} | {encoding} | {length:.0f} | {problem.vocab_size} | {train_rate:.1f} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[25, 33])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    print("| n | encoding | mean tokens | vocabulary | train steps/s (batch 64) |")
    print("|---|---|---|---|---|")
    for n in args.n:
        for encoding in ("edges", "neighbours", "adjacency"):
            measure(n, encoding, args.steps)


if __name__ == "__main__":
    main()
