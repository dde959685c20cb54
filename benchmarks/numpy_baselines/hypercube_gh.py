"""The hypercube_gh local search in plain numpy: the same steps as local_search/hypercube.py.

Repair (random missing edges back until the diameter is d), random-order greedy deletion, then
`climb` iterated-greedy steps (each opens a random vertex with probability open_vertex, else puts back
1..kick random missing edges).
The diameter test is the textbook one: reachability matrix R, d times R <- R or (R @ A) > 0.
"""
import numpy as np


def _adjacency(problem, mask):
    n = problem.n_vertices
    adjacency = np.zeros((n, n), dtype=np.int32)
    for e in np.flatnonzero(mask):
        u, v = problem.cube_edges[e]
        adjacency[u, v] = adjacency[v, u] = 1
    return adjacency


def diameter_ok(problem, mask):
    adjacency = _adjacency(problem, mask)
    reach = np.eye(problem.n_vertices, dtype=np.int32)
    for _ in range(problem.d):
        reach = ((reach + reach @ adjacency) > 0).astype(np.int32)
    return bool(reach.all())


def repair(problem, mask, rng):
    for e in rng.permutation(np.flatnonzero(mask == 0)):
        if diameter_ok(problem, mask):
            break
        mask[e] = 1


def greedy_delete(problem, mask, rng):
    for e in rng.permutation(np.flatnonzero(mask == 1)):
        mask[e] = 0
        if not diameter_ok(problem, mask):
            mask[e] = 1


def kick(problem, mask, rng):
    if rng.random() < problem.params.open_vertex:  # open a random vertex: all its missing edges back
        v = rng.integers(problem.n_vertices)
        for e, (a, b) in enumerate(problem.cube_edges):
            if v in (a, b):
                mask[e] = 1
    else:
        missing = np.flatnonzero(mask == 0)
        count = min(len(missing), rng.integers(problem.params.kick) + 1)
        mask[rng.choice(missing, size=count, replace=False)] = 1


def local_search(problem, batch, rng):
    out = np.array(batch, dtype=np.uint8, copy=True)
    for mask in out:
        repair(problem, mask, rng)
        greedy_delete(problem, mask, rng)
        for _ in range(problem.params.climb):
            trial = mask.copy()
            kick(problem, trial, rng)
            greedy_delete(problem, trial, rng)
            if trial.sum() <= mask.sum():
                mask[:] = trial
    return out
