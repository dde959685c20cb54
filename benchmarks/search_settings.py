"""Which local-search settings reach the known best most often per second? One batch of searches from the
problem's initial objects for each setting, side by side in one run.

    .venv/bin/python benchmarks/search_settings.py c4_free --set n=33 \
        --try climb=100,kick=2:50000 --try climb=300,kick=4:10000 --try climb=1000,kick=4:5000

Each `--try` is comma-separated problem parameters, then `:` and the number of searches. Prints, per setting,
the seconds, the mean and best score and how many searches reached the known best (and the seconds per such hit).
"""
import argparse
import time

from patternboost import load_problem
from patternboost.config import parse_set


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a parameter of every try")
    parser.add_argument("--try", dest="tries", action="append", required=True, metavar="K=V,K=V:COUNT")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    fixed, _ = parse_set(args.set)
    for spec in args.tries:
        settings, _, count = spec.rpartition(":")
        params = {**fixed, **parse_set(settings.split(","))[0]}
        problem = load_problem(args.problem, **params)
        problem.local_search(problem.initial(4, 0), 0)  # compile outside the timing
        started = time.time()
        scores = problem.score(problem.local_search(problem.initial(int(count), 0), args.seed))
        seconds = time.time() - started
        hits = int((scores >= problem.known_best).sum())
        per_hit = f"{seconds / hits:.3f} s per hit" if hits else "no hit"
        print(f"{settings:<24} {int(count):>7} searches {seconds:7.1f} s  mean {scores.mean():8.2f}  "
              f"best {scores.max():g}  reached {problem.known_best:g}: {hits}  ({per_hit})", flush=True)


if __name__ == "__main__":
    main()
