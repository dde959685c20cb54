"""Plain numpy version of the triangle_free local search, for benchmarks/throughput.py.

Same search as local_search/triangle.py, on 0/1 adjacency matrices, recomputing A @ A
after every change: repair deletes an edge in most triangles ((A @ A)[u, v] for an edge),
then uniformly random allowed edges (non-edges with (A @ A)[u, v] == 0) are added until
none is left; `climb` steps of iterated greedy follow when the problem asks for them.
"""
import numpy as np


def to_matrix(rows, n):
    return ((rows[:, None] >> np.arange(n, dtype=np.uint64)) & np.uint64(1)).astype(np.float64)


def to_rows(matrix):
    n = matrix.shape[0]
    return (matrix.astype(np.uint64) << np.arange(n, dtype=np.uint64)).sum(axis=1, dtype=np.uint64)


def pick(mask, rng):
    """A uniformly random (u, v) among the True entries of mask, or None."""
    idx = np.flatnonzero(mask)
    return None if idx.size == 0 else divmod(int(idx[rng.integers(idx.size)]), mask.shape[0])


def set_edge(A, uv, value):
    A[uv] = A[uv[::-1]] = value


def repair(A, rng):
    """Delete the edge in most triangles (ties at random), recounting all triangles, until triangle-free."""
    while True:
        per_edge = (A @ A) * A
        best = per_edge.max()
        if best <= 0:
            return A
        set_edge(A, pick(np.triu(per_edge == best, 1), rng), 0)


def greedy_add(A, rng):
    """Add uniformly random edges between vertices with no common neighbour until none is left."""
    while (uv := pick(np.triu((A == 0) & (A @ A == 0), 1), rng)) is not None:
        set_edge(A, uv, 1)
    return A


def climb(A, rng, iterations, kick):
    """Iterated greedy: delete `kick` random edges, refill, keep unless it has fewer edges."""
    for _ in range(iterations):
        trial = A.copy()
        for _ in range(kick):
            if (uv := pick(np.triu(trial, 1) > 0, rng)) is not None:
                set_edge(trial, uv, 0)
        greedy_add(trial, rng)
        if trial.sum() >= A.sum():
            A = trial
    return A


def local_search(problem, batch, rng):
    n, params = problem.n, problem.params
    out = np.empty_like(batch)
    for i, rows in enumerate(batch):
        A = greedy_add(repair(to_matrix(rows, n), rng), rng)
        out[i] = to_rows(climb(A, rng, params.climb, params.kick))
    return out
