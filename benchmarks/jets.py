"""Jets: the extrapolation methods side by side, and the rates of the pieces.

    python benchmarks/jets.py methods --truth toy --out runs/jets-toy     # one run per method, then the table
    python benchmarks/jets.py table runs/jets-toy/*                       # the table of finished runs
    python benchmarks/jets.py rates                                       # training and sampling events/s

`methods` runs `patternboost run jets --set truth=T --set method=M` for each method with the same seed (so the
same truth), one after another, then prints the table: R_n relative errors at n_max and n_max + 1 against
held-out truth, with the statistical error of the comparison, and the kinematic distances of the softest jet of
(n_max + 1)-jet events. Extra `--set` arguments pass through to every run.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time
import tomllib

METHODS = ("full", "reduced", "perturbed", "bootstrap")


def last_record(run):
    with open(os.path.join(run, "metrics.jsonl")) as f:
        return json.loads(f.read().splitlines()[-1])


def relative(record, n):
    """(R_n generated / R_n truth - 1, its statistical error) or (None, None)."""
    got, want = record.get(f"R{n}"), record.get(f"R{n}_truth")
    if got is None or not want:
        return None, None
    errors = [record.get(f"R{n}_err") or 0.0, record.get(f"R{n}_truth_err") or 0.0]
    return got / want - 1, (got / want) * math.hypot(errors[0] / got if got else 0.0, errors[1] / want)


def table(runs):
    rows = []
    for run in runs:
        with open(os.path.join(run, "run.toml"), "rb") as f:
            params = tomllib.load(f)["problem"]["params"]
        record, n_max = last_record(run), params["n_max"]
        method = params.get("method", "full")
        if method == "perturbed" and params.get("stop_target", -1) >= 0:
            method += f" (stop target {params['stop_target']:g})"
        cells = [method, f"{record['test_nll']:.3f}"]
        for n in (n_max - 1, n_max, n_max + 1):
            value, error = relative(record, n)
            truth = record.get(f"R{n}_truth")
            cells.append("-" if value is None else f"{record[f'R{n}']:.3f} vs {truth:.3f} ({value:+.0%} ± {error:.0%})")
        k = n_max + 1
        for key in (f"pt_j{k}", f"eta_j{k}", f"dr_j{k}"):
            w1, chi2 = record.get(f"w1_{key}"), record.get(f"chi2_{key}")
            cells.append("-" if w1 is None else f"{w1:.3g} / {chi2:.1f}")
        rows.append(cells)
    n_max = params["n_max"]
    k = n_max + 1
    print(f"| method | test NLL | R{n_max - 1} (trained) | R{n_max} (extrapolated) | R{k} (extrapolated) | "
          f"pT j{k} W1 / χ² | η j{k} W1 / χ² | ΔR j{k} W1 / χ² |")
    print("|---|---|---|---|---|---|---|---|")
    for cells in rows:
        print("| " + " | ".join(cells) + " |")


def methods(args, extra):
    runs = []
    for method in args.methods:
        run = os.path.join(args.out, method)
        sets = ["--set", f"truth={args.truth}", "--set", f"method={method}"] + [a for s in extra for a in ("--set", s)]
        started = time.time()
        subprocess.run([sys.executable, "-m", "patternboost.cli", "run", "jets", "--run-dir", run, "--seed",
                        str(args.seed), *sets], check=True)
        print(f"{method}: {time.time() - started:.0f} s", flush=True)
        runs.append(run)
    table(runs)


def rates(args):
    """Training events/s (optimizer steps x batch) and sampling events/s of the default CPU model on toy truth."""
    import numpy as np
    import torch

    from patternboost import load_problem
    from patternboost.config import EngineConfig, apply_engine_settings
    from patternboost.families.density import Densities, upto
    from patternboost.loop import build_model
    from patternboost.mixture import sample
    from patternboost.train import Trainer

    plugin = load_problem("jets", truth="toy", n_max=args.n_max)
    config = EngineConfig()
    apply_engine_settings(config, plugin.settings)
    family = Densities(plugin, config, 0, "jets")
    family.truth["train"] = upto(plugin.truth(20000, 1), plugin.train_length)
    family.fitted = plugin.fit(*family.truth["train"])
    model = build_model(family, config, torch.device("cpu"))
    trainer = Trainer(model, config.train, torch.device("cpu"), family.loss)
    batches = family.batches(1, model)
    trainer.train(batches, 0, 5)
    started = time.time()
    trainer.train(batches, 5, 5 + args.steps)
    train_s = time.time() - started
    started = time.time()
    lengths, _ = sample(model, args.samples, plugin.max_length, seed=0, min_length=2,
                        modelled=family.modelled, batch_size=config.sample.batch_size)
    sample_s = time.time() - started
    batch = config.train.batch_size
    print(f"threads {torch.get_num_threads()}: training {args.steps * batch / train_s:,.0f} events/s "
          f"({train_s / args.steps * 1000:.1f} ms per step of {batch}); sampling {args.samples / sample_s:,.0f} "
          f"events/s (mean {np.mean(lengths - 2):.2f} jets)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("methods")
    m.add_argument("--truth", default="toy", choices=["toy", "pythia"])
    m.add_argument("--out", required=True)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    t = sub.add_parser("table")
    t.add_argument("runs", nargs="+")
    r = sub.add_parser("rates")
    r.add_argument("--n-max", type=int, default=3)
    r.add_argument("--steps", type=int, default=100)
    r.add_argument("--samples", type=int, default=40000)
    args, extra = parser.parse_known_args()
    extra = [e for e in extra if e != "--set"]
    if args.command == "methods":
        methods(args, extra)
    elif args.command == "table":
        table(args.runs)
    else:
        rates(args)


if __name__ == "__main__":
    main()
