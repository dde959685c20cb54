"""DDP training: step time, tokens/s and losses at world size 1 and 2 on the same global batches, side by side.

    .venv/bin/python benchmarks/ddp.py --steps 30 --batch 64 --length 64      # launches torchrun twice
    .venv/bin/python benchmarks/ddp.py --device cuda --sizes 1 2 4 8          # a multi-GPU node

Run plainly, it launches `torchrun --standalone --nproc_per_node=K` on itself for each K in --sizes and prints one
JSON line per world size; under torchrun, rank 0 prints its figures.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch


def train(args):
    from patternboost import distributed
    from patternboost.config import ModelConfig, TrainConfig
    from patternboost.model import GPT, GPTConfig
    from patternboost.tokens import BOS, EOS
    from patternboost.train import Trainer, sequence_batches

    world = distributed.init(args.device)
    device = torch.device(args.device if args.device == "cpu" else f"cuda:{world.local_rank}")
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=args.vocab, block_size=args.length + 1,
                          **ModelConfig().architecture())).to(device)
    trainer = Trainer(model, TrainConfig(), device)
    rows = np.random.default_rng(0).integers(3, args.vocab, size=(4096, args.length + 2))
    rows[:, 0], rows[:, -1] = BOS, EOS
    source = sequence_batches(rows, args.batch, 0)
    if world.main:
        trainer.train(source, 0, 2)  # warm-up
        start = time.perf_counter()
        losses, _ = trainer.train(source, 2, 2 + args.steps)
        seconds = time.perf_counter() - start
        print(json.dumps({"world_size": world.size, "device": args.device,
                          "step_ms": round(1000 * seconds / args.steps, 1),
                          "tokens_per_s": round(args.steps * args.batch * (args.length + 1) / seconds),
                          "first_loss": losses[0], "last_loss": losses[-1]}), flush=True)
        if world.size > 1:
            distributed.broadcast(None)
            distributed.leave(trainer)
    elif world.size > 1:
        distributed.follow(trainer)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64, help="global batch (rows)")
    parser.add_argument("--length", type=int, default=64, help="tokens a row")
    parser.add_argument("--vocab", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    if "WORLD_SIZE" in os.environ:
        return train(args)
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    with tempfile.TemporaryDirectory() as scratch:  # torchrun leaves torchelastic_* folders behind
        for size in args.sizes:
            subprocess.run([torchrun, "--standalone", f"--nproc_per_node={size}", __file__, *sys.argv[1:]],
                           check=True, env={**os.environ, "TMPDIR": scratch})


if __name__ == "__main__":
    main()
