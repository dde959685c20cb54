"""A math task's training throughput: data generation against training consumption, and the engine's Trainer
against a plain nanoGPT-style loop on the same model and batches.

For each task, at its recommended engine settings (plus --set):
  generation   examples/s of the whole batch path the loop runs each step: task.examples() through framing and
               the answer-only targets (data.make_source + tasks.training_batch), fresh data;
  Trainer      the engine's Trainer, drawing (generating) its own batches inside the timing;
  plain loop   forward, backward, AdamW on the same batches generated beforehand (outside its timing).
The two trainings alternate in bouts, each from its own copy of one initial model. `generation / consumption` above
1 means generation keeps ahead of training. With --workers N the Trainer's fresh data is generated ahead in N
processes (data.workers, patternboost.data.Prefetcher), as a task run does on a GPU by default.

    .venv/bin/python benchmarks/task_throughput.py --steps 20 --bouts 3                  # every task, CPU
    python3 benchmarks/task_throughput.py --device cuda --workers 8 --set train.batch_size=1024
"""
import argparse
import copy
import functools
import time

import torch
from trainer_throughput import plain_loop  # benchmarks/ is on the path when run as a script

from patternboost import load_problem, tokens
from patternboost.config import EngineConfig, apply_engine_settings, parse_set
from patternboost.data import Prefetcher, make_source
from patternboost.model import GPT, GPTConfig
from patternboost.tasks import FramedPairs, framed_task, sequence_width, training_batch
from patternboost.train import Trainer

TASKS = ["gcd", "modular_mul", "modular_add", "addition", "multiplication", "eigenvalues"]


def measure(name, settings, steps, bouts, device, workers):
    problem_params, engine_settings = parse_set(settings)
    task = load_problem(name, **problem_params)
    config = EngineConfig()
    apply_engine_settings(config, task.settings)
    apply_engine_settings(config, engine_settings)
    source = make_source(FramedPairs(task, name), config.data, config.train.batch_size, seed=0)
    fetch = source
    if workers:
        fetch = Prefetcher(source, functools.partial(framed_task, name, problem_params, name), workers)
        fetch(0)  # the workers start (spawn) before anything is timed

    def batches(step):
        return training_batch(fetch(step))

    start = time.perf_counter()
    generated = [batches(s) for s in range(1, steps + 1)]
    generation = steps * config.train.batch_size / (time.perf_counter() - start)

    torch.manual_seed(0)
    base = GPT(GPTConfig(vocab_size=task.vocab_size + tokens.N_SPECIAL, block_size=sequence_width(task),
                         **config.model.architecture()))
    engine_model, plain_model = copy.deepcopy(base).to(device), copy.deepcopy(base).to(device)
    trainer = Trainer(engine_model, config.train, device)
    optimizer = plain_model.optimizer(config.train.lr, config.train.weight_decay)
    plain_loop(plain_model, optimizer, generated[:2], device)  # warm-up, untimed: first calls allocate
    trainer.train(batches, steps + 1, steps + 3)
    seconds, token_count, step = {"Trainer": 0.0, "plain": 0.0}, 0, steps + 3
    for _ in range(bouts):
        generated = [training_batch(source(s)) for s in range(step, step + steps)]  # the Trainer's batches
        token_count += sum(inputs.numel() for inputs, _ in generated)
        start = time.perf_counter()
        plain_loop(plain_model, optimizer, generated, device)
        seconds["plain"] += time.perf_counter() - start
        start = time.perf_counter()
        trainer.train(batches, step, step + steps)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds["Trainer"] += time.perf_counter() - start
        step += steps
    if workers:
        fetch.close()
    consumption = bouts * steps * config.train.batch_size / seconds["plain"]
    return {"task": name, "batch": config.train.batch_size, "width": sequence_width(task),
            "generation_examples_s": generation, "consumption_examples_s": consumption,
            "trainer_tokens_s": token_count / seconds["Trainer"], "plain_tokens_s": token_count / seconds["plain"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="*", default=TASKS)
    parser.add_argument("--set", action="append", default=[], help="task parameter or engine setting")
    parser.add_argument("--steps", type=int, default=20, help="steps per bout")
    parser.add_argument("--bouts", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=0, help="processes generating data ahead (data.workers)")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"{device}, {torch.get_num_threads()} torch threads, {args.workers} data workers, {args.bouts} alternating bouts of {args.steps} steps")
    print(f"{'task':<15} {'batch x width':>13} {'generated/s':>12} {'consumed/s':>11} {'gen/cons':>9} "
          f"{'Trainer tok/s':>14} {'plain tok/s':>12} {'Trainer/plain':>14}")
    for name in args.tasks:
        r = measure(name, args.set, args.steps, args.bouts, device, args.workers)
        print(f"{name:<15} {r['batch']:>6} x {r['width']:<4} {r['generation_examples_s']:>12,.0f} "
              f"{r['consumption_examples_s']:>11,.0f} {r['generation_examples_s'] / r['consumption_examples_s']:>9.1f} "
              f"{r['trainer_tokens_s']:>14,.0f} {r['plain_tokens_s']:>12,.0f} "
              f"{r['trainer_tokens_s'] / r['plain_tokens_s']:>14.3f}", flush=True)


if __name__ == "__main__":
    main()
