"""The learned half's speed on a problem: training tokens/s and MFU, and samples/s, on the loop's own model.

Training rows are the problem's real encodings (the best `--pool` of `--searches` local searches), batches drawn as
the loop draws them; the model and its settings are the loop's (the problem's recommended settings, then --set).
Steps are timed after `--warmup` untimed ones (compiling, with train.compile=true). MFU is model FLOPs per second
(nanoGPT's estimate: 6 N + 12 L H Q T per token, N parameters, T the padded row length) over `--peak-tflops`,
default 989 (an H100's dense bf16) on CUDA; not reported on CPU.

    .venv/bin/python benchmarks/learned_throughput.py c4_free --set climb=0 --steps 20
    python benchmarks/learned_throughput.py c4_free --set climb=0 --set train.batch_size=1024 --set sample.batch_size=20000
"""
import argparse
import time

import numpy as np
import torch

from patternboost import load_problem, tokens
from patternboost.config import EngineConfig, apply_engine_settings, parse_set
from patternboost.model import GPT, GPTConfig
from patternboost.sample import sample
from patternboost.train import Trainer, sequence_batches


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(device, fn):
    synchronize(device)
    started = time.time()
    fn()
    synchronize(device)
    return time.time() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--steps", type=int, default=50, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed training steps first")
    parser.add_argument("--searches", type=int, default=20000)
    parser.add_argument("--pool", type=int, default=2000)
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="the accelerator's peak (CUDA only)")
    args = parser.parse_args()
    params, settings = parse_set(args.set)
    problem = load_problem(args.problem, **params)
    config = EngineConfig()
    apply_engine_settings(config, {**getattr(problem, "settings", {}), **settings})
    device = torch.device("cuda" if torch.cuda.is_available() and config.loop.device != "cpu" else "cpu")

    searched = problem.local_search(problem.initial(args.searches, 0), 1)
    pool = searched[np.argsort(-problem.score(searched))[: args.pool]]
    rows = tokens.pack(problem.encode(pool), problem.max_length)
    filled = float((rows[:, 1:] != tokens.PAD).mean())  # share of target positions that are not padding

    torch.manual_seed(0)
    gpt = GPTConfig(vocab_size=problem.vocab_size + tokens.N_SPECIAL, block_size=problem.max_length + 2,
                    **config.model.architecture())
    model = GPT(gpt).to(device)
    trainer = Trainer(model, config.train, device)
    batches = sequence_batches(rows, config.train.batch_size, 0)
    trainer.train(batches, 0, args.warmup)
    seconds = timed(device, lambda: trainer.train(batches, args.warmup, args.warmup + args.steps))
    length = rows.shape[1] - 1
    tokens_per_s = args.steps * config.train.batch_size * length / seconds
    n_params = sum(p.numel() for p in model.parameters())
    flops_per_token = 6 * n_params + 12 * gpt.n_layer * gpt.n_head * (gpt.n_embd // gpt.n_head) * length
    mfu = f", MFU {flops_per_token * tokens_per_s / (args.peak_tflops * 1e12):.2%}" if device.type == "cuda" else ""
    print(f"{args.problem} {params} on {device}: {n_params:,} parameters, rows of {length} tokens "
          f"({filled:.0%} not padding), batch {config.train.batch_size}, compile {config.train.compile}")
    print(f"training: {args.steps / seconds:.2f} steps/s, {tokens_per_s:,.0f} tokens/s{mfu}")

    count, cfg = config.sample.batch_size, config.sample
    increasing = cfg.ordered and bool(getattr(problem, "increasing", False))
    separator = tokens.separator_of(problem)
    drawn = []
    seconds = timed(device, lambda: drawn.append(sample(model, count, cfg.temperature, cfg.top_k, 0, device,
                                                        increasing=increasing, top_p=cfg.top_p, separator=separator)))
    drawn_length = np.mean([len(s) for s in tokens.unpack(drawn[0])[0]])
    print(f"sampling: {count / seconds:,.0f} samples/s of {drawn_length:.1f} tokens (batch {count}, after the training "
          f"above; the pool's rows have {(rows[:, 1:] > tokens.EOS).sum(1).mean():.1f})")


if __name__ == "__main__":
    main()
