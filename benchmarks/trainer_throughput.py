"""Training tokens per second: the engine's Trainer against a plain nanoGPT-style loop, same model and batches.

The two alternate in short bouts on the same machine (the machines are shared and noisy), each from its own copy
of one initial model. The engine's loop adds per-step batch drawing from packed rows, the learning-rate
schedule, gradient clipping and stop/progress checks; the plain loop only does forward, backward and AdamW.

    .venv/bin/python benchmarks/trainer_throughput.py --length 64 --steps 20 --bouts 5
    .venv/bin/python benchmarks/trainer_throughput.py --lengths 50 100 200 300 --vocab 729 --steps 5
"""
import argparse
import copy
import time

import numpy as np
import torch

from patternboost.config import ModelConfig, TrainConfig
from patternboost.model import GPT, GPTConfig
from patternboost.tokens import BOS, EOS
from patternboost.train import Trainer, sequence_batches


def packed_rows(count, length, vocab_size, seed):
    """Full-length rows BOS tokens... EOS, so every position carries a target (no padding to skip)."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(3, vocab_size, size=(count, length + 2))
    rows[:, 0], rows[:, -1] = BOS, EOS
    return rows


CPU = torch.device("cpu")


def plain_loop(model, optimizer, batches, device=CPU):
    """Forward, backward, AdamW: the nanoGPT loop, with the Trainer's bf16 autocast on CUDA."""
    model.train()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    for inputs, targets in batches:
        with autocast:
            _, loss = model(inputs.to(device), targets.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()


def by_length(lengths, vocab, steps):
    """ms per engine training step at each sequence length, alternating lengths in bouts (a noisy machine)."""
    model_config, train_config = ModelConfig(), TrainConfig()
    torch.manual_seed(0)
    runs = {}
    for length in lengths:
        model = GPT(GPTConfig(vocab_size=vocab, block_size=length + 2, **model_config.architecture()))
        source = sequence_batches(packed_rows(2_000, length, vocab, 0), train_config.batch_size, seed=0)
        trainer = Trainer(model, train_config, torch.device("cpu"))
        trainer.train(source, 0, 2)  # warm-up
        runs[length] = (trainer, source, [0.0, 2])
    for _ in range(3):
        for trainer, source, clock in runs.values():
            start = time.perf_counter()
            trainer.train(source, clock[1], clock[1] + steps)
            clock[0] += time.perf_counter() - start
            clock[1] += steps
    print(f"model {model_config.architecture()}, batch {train_config.batch_size}, vocabulary {vocab}, "
          f"{torch.get_num_threads()} torch threads")
    first = None
    for length, (_, _, (seconds, done)) in runs.items():
        per_step = seconds / (done - 2) * 1000
        first = first or per_step / length
        print(f"  {length:4d} tokens: {per_step:7.1f} ms per step, {train_config.batch_size * (length + 1) / per_step * 1000:9,.0f}"
              f" tokens/s, per-token cost x{per_step / length / first:.2f} of the shortest")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=64, help="tokens per sequence")
    parser.add_argument("--lengths", type=int, nargs="+", help="only time the engine's steps at these lengths")
    parser.add_argument("--vocab", type=int, default=100)
    parser.add_argument("--steps", type=int, default=20, help="steps per bout")
    parser.add_argument("--bouts", type=int, default=5, help="bouts per method, alternating")
    args = parser.parse_args()
    if args.lengths:
        return by_length(args.lengths, args.vocab, args.steps)
    model_config, train_config = ModelConfig(), TrainConfig()
    torch.manual_seed(0)
    base = GPT(GPTConfig(vocab_size=args.vocab, block_size=args.length + 2, **model_config.architecture()))
    rows = packed_rows(10_000, args.length, args.vocab, 0)
    source = sequence_batches(rows, train_config.batch_size, seed=0)
    engine_model, plain_model = copy.deepcopy(base), copy.deepcopy(base)
    trainer = Trainer(engine_model, train_config, torch.device("cpu"))
    optimizer = plain_model.optimizer(train_config.lr, train_config.weight_decay)
    tokens_per_step = train_config.batch_size * (args.length + 1)
    seconds = {"engine Trainer": 0.0, "plain loop": 0.0}
    step = 0
    for _ in range(args.bouts):
        batches = [source(s) for s in range(step, step + args.steps)]  # drawn outside the plain loop's timing
        start = time.perf_counter()
        plain_loop(plain_model, optimizer, batches)
        seconds["plain loop"] += time.perf_counter() - start
        start = time.perf_counter()
        trainer.train(source, step, step + args.steps)  # draws its own batches inside the timing
        seconds["engine Trainer"] += time.perf_counter() - start
        step += args.steps
    print(f"model {model_config.architecture()}, batch {train_config.batch_size} x {args.length + 1} tokens, "
          f"{torch.get_num_threads()} torch threads, {args.bouts} alternating bouts of {args.steps} steps")
    rates = {name: tokens_per_step * step / total for name, total in seconds.items()}
    for name, rate in rates.items():
        print(f"  {name:15s} {rate:10,.0f} tokens/s")
    print(f"  engine / plain: {rates['engine Trainer'] / rates['plain loop']:.3f}")


if __name__ == "__main__":
    main()
