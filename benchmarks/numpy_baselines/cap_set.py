"""Plain numpy version of the cap-set local search of examples/cap_set.py, for benchmarks/throughput.py.

Same search: keep the start's points that complete no line (random order), add random points that
complete no line until none is left, then `climb` steps of "drop `kick` points, refill, keep if not
smaller". The points blocked by a cap are recomputed from all its pairs whenever it changes.
"""
import numpy as np


def third_points(coords, members, point):
    """Indices of -(point + m) for every member m: the points that `point` and a member block."""
    digits = (-(coords[members] + coords[point])) % 3
    return digits @ (3 ** np.arange(coords.shape[1]))


def fill(cap, order, coords):
    """Add the points of `order` that complete no line with two members, in that order."""
    members = list(np.flatnonzero(cap))
    blocked = np.zeros(len(cap), dtype=bool)
    for m in range(len(members)):
        blocked[third_points(coords, np.array(members[:m], dtype=np.int64), members[m])] = True
    for point in order:
        if not cap[point] and not blocked[point]:
            blocked[third_points(coords, np.array(members, dtype=np.int64), point)] = True
            cap[point] = 1
            members.append(point)
    return cap


def search_one(start, rng, coords, climb, kick):
    cap = fill(np.zeros_like(start), rng.permutation(np.flatnonzero(start)), coords)
    cap = fill(cap, rng.permutation(len(cap)), coords)
    for _ in range(climb):
        trial = cap.copy()
        members = np.flatnonzero(trial)
        trial[rng.choice(members, size=min(kick, len(members)), replace=False)] = 0
        trial = fill(trial, rng.permutation(len(cap)), coords)
        if trial.sum() >= cap.sum():
            cap = trial
    return cap


def local_search(problem, batch, rng):
    n = problem.n
    coords = (np.arange(3**n)[:, None] // 3 ** np.arange(n)) % 3
    return np.array([search_one(start, rng, coords, problem.params.climb, problem.params.kick) for start in batch])
