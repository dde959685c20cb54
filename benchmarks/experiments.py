"""The math-task experiments, one command each: every arm is a `patternboost run` at equal training steps.

    python benchmarks/experiments.py gcd_operands             # CPU scale (minutes on 2 cores)
    python benchmarks/experiments.py gcd_operands --scale gpu # the published scale, for a GPU
    python benchmarks/experiments.py --list

Prints the arms side by side and appends one JSON line per arm to benchmarks/results/experiments.jsonl. Run
directories go to runs/experiments/<experiment>-<scale>-<arm>-<time> (never reused), so each can be resumed or
shown with `patternboost show`.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results", "experiments.jsonl")

LENGTH_METRICS = ["accuracy", "accuracy_beyond", "generalizes_to", "accuracy_by_length", "token_accuracy_by_length"]
# scale -> settings shared by every arm; arm -> its own settings. Equal steps: rounds x train.steps.
EXPERIMENTS = {
    "gcd_operands": {  # (a) log-uniform vs uniform operands
        "task": "gcd", "metrics": ["accuracy", "correct_gcd", "gcd_correct"],
        "cpu": ["--rounds", "6", "--set", "train.steps=500", "--set", "test_size=5000", "--set", "per_outcome=50"],
        "gpu": ["--rounds", "30", "--set", "train.steps=2000", "--set", "train.batch_size=256",
                "--set", "model.n_embd=256", "--set", "test_size=100000", "--set", "per_outcome=1000"],
        "arms": {"uniform": ["--set", "operands=uniform"], "log-uniform": ["--set", "operands=log-uniform"]}},
    "modular_budget": {  # (b) a small repeated data budget vs unlimited fresh data
        "task": "modular_mul", "metrics": ["accuracy", "chance", "repetitions"],
        "cpu": ["--rounds", "6", "--set", "train.steps=500", "--set", "max_operand=1000", "--set", "base=10",
                "--set", "test_size=5000"],
        "gpu": ["--rounds", "50", "--set", "train.steps=2000", "--set", "model.n_embd=256",
                "--set", "test_size=100000"],
        "arms": {"fresh": ["--set", "data.regime=fresh"],
                 "budget": ["--set", "data.regime=budget", "--set", "data.budget=20000"]}},
    "two_set": {  # (c) two-set training vs a single fresh set, on GCD
        "task": "gcd", "metrics": ["accuracy", "correct_gcd", "repetitions"],
        "cpu": ["--rounds", "6", "--set", "train.steps=500", "--set", "test_size=5000", "--set", "per_outcome=50"],
        "gpu": ["--rounds", "30", "--set", "train.steps=2000", "--set", "model.n_embd=256",
                "--set", "test_size=100000", "--set", "per_outcome=1000"],
        "arms": {"single": ["--set", "data.regime=fresh"],
                 "two_set": ["--set", "data.regime=two_set", "--set", "data.repeated_size=20000",
                             "--set", "data.repeated_prob=0.25"]}},
    "addition_positions": {  # (d) train <= 5 digits, test to 15: relative vs absolute positions
        "task": "addition", "metrics": LENGTH_METRICS,
        "cpu": ["--rounds", "6", "--set", "train.steps=500", "--set", "test_per_length=100"],
        "gpu": ["--rounds", "20", "--set", "train.steps=5000", "--set", "model.n_embd=256",
                "--set", "test_per_length=1000"],
        "arms": {"alibi": ["--set", "model.position=alibi"], "rope": ["--set", "model.position=rope"],
                 "learned": ["--set", "model.position=learned"]}},
    "multiplication_priming": {  # (e) 5x3 training with and without primers, longer first operands
        "task": "multiplication", "metrics": LENGTH_METRICS,
        "cpu": ["--rounds", "6", "--set", "train.steps=500", "--set", "test_digits=15",
                "--set", "test_per_length=50", "--set", "data.regime=budget", "--set", "data.budget=50000"],
        "gpu": ["--rounds", "40", "--set", "train.steps=5000", "--set", "model.n_embd=256", "--set", "test_digits=35",
                "--set", "test_per_length=1000", "--set", "data.regime=budget", "--set", "data.budget=5000000"],
        "arms": {"no_primers": [], "primers_50": ["--set", "data.primers=50"]}},
    "multiplication_priming_5x1": {  # (e) at a size 2 CPU cores learn in minutes: 5x1 training, tests to 15x1
        "task": "multiplication", "metrics": LENGTH_METRICS,
        "cpu": ["--rounds", "6", "--set", "train.steps=500", "--set", "second_digits=1", "--set", "test_digits=15",
                "--set", "test_per_length=50", "--set", "data.regime=budget", "--set", "data.budget=50000"],
        "gpu": ["--rounds", "20", "--set", "train.steps=5000", "--set", "model.n_embd=256", "--set", "second_digits=1",
                "--set", "test_digits=35", "--set", "test_per_length=1000", "--set", "data.regime=budget",
                "--set", "data.budget=5000000"],
        "arms": {"no_primers": [], "primers_50": ["--set", "data.primers=50"]}},
    "eigenvalues": {  # (f) 5x5 symmetric matrices at 5% tolerance
        "task": "eigenvalues", "metrics": ["accuracy", "tolerance_accuracy", "wrong_eigenvalues_right"],
        "cpu": ["--rounds", "6", "--set", "train.steps=500", "--set", "test_size=1000"],
        "gpu": ["--rounds", "100", "--set", "train.steps=5000", "--set", "model.n_embd=512",
                "--set", "model.n_layer=6", "--set", "test_size=10000"],
        "arms": {"P1000": ["--set", "encoding=P1000"]}},
}


def run_arm(name, scale, arm, extra):
    spec = EXPERIMENTS[name]
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = os.path.join(ROOT, "runs", "experiments", f"{name}-{scale}-{arm}-{stamp}")
    command = [sys.executable, "-m", "patternboost.cli", "run", spec["task"], "--run-dir", run_dir,
               *spec[scale], *spec["arms"][arm], *extra]
    print("$", " ".join(command[2:]), flush=True)
    started = time.time()
    subprocess.run(command, check=True, cwd=ROOT)
    with open(os.path.join(run_dir, "report.json")) as f:
        report = json.load(f)
    last = report["history"][-1]
    return {"experiment": name, "scale": scale, "arm": arm, "task": spec["task"], "run_dir": run_dir,
            "command": " ".join(command[2:]), "wall_s": round(time.time() - started, 1), "step": last["step"],
            **{m: report.get(m, last.get(m)) for m in spec["metrics"]}}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", nargs="?", choices=sorted(EXPERIMENTS))
    parser.add_argument("--scale", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--arms", nargs="*", help="only these arms")
    parser.add_argument("--set", action="append", default=[], help="extra setting for every arm, as for run")
    parser.add_argument("--rounds", help="override the scale's rounds (a shorter check)")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    if args.list or not args.experiment:
        for name, spec in EXPERIMENTS.items():
            print(f"{name:<24} {spec['task']:<15} arms: {', '.join(spec['arms'])}")
        return
    extra = [x for item in args.set for x in ("--set", item)] + (["--rounds", args.rounds] if args.rounds else [])
    rows = []
    for arm in args.arms or EXPERIMENTS[args.experiment]["arms"]:
        rows.append(run_arm(args.experiment, args.scale, arm, extra))
        os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
        with open(RESULTS, "a") as f:
            f.write(json.dumps(rows[-1]) + "\n")
    print(f"\n{args.experiment} ({args.scale} scale), equal steps ({rows[0]['step']}):")
    for row in rows:
        shown = {m: row[m] for m in EXPERIMENTS[args.experiment]["metrics"]}
        print(f"  {row['arm']:<12} {json.dumps(shown)}  [{row['wall_s']:.0f}s]")


if __name__ == "__main__":
    main()
