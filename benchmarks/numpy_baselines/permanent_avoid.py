"""Plain numpy version of the permanent_avoid local search, for benchmarks/throughput.py.

Same search as local_search/permanent.py, on 0/1 matrices, recounting every cell's 312
occurrences with prefix sums after every change: repair deletes a 1 in most occurrences, then
uniformly random cells that complete no occurrence get a 1 until none is left; `climb` steps of
iterated greedy follow (delete `kick` random 1s, refill first without the deleted cells, then
with them, keep unless the permanent drops). The permanent is Ryser's formula over all 2^n
column sets at once; a matrix with permanent 0 is ranked by its largest matching instead.
"""
import numpy as np


def to_matrix(rows, n):
    return ((rows[:, None] >> np.arange(n, dtype=np.uint64)) & np.uint64(1)).astype(np.int64)


def to_rows(matrix):
    n = matrix.shape[0]
    return (matrix.astype(np.uint64) << np.arange(n, dtype=np.uint64)).sum(axis=1, dtype=np.uint64)


def exclusive_cumsum(x, axis):
    return np.cumsum(x, axis=axis) - x


def occurrences(A):
    """For every cell, the 312 occurrences it completes with two 1s of A (as i1, i2 or i3).

    above_left[r, y]: 1s in rows < r, columns < y; above_right[r, y]: in rows < r, columns > y;
    col_below[r, y]: 1s of column y in rows > r; row_left[r, y]: 1s of row r in columns < y.
    """
    above_left = exclusive_cumsum(exclusive_cumsum(A, 0), 1)
    above_right = exclusive_cumsum(A[:, ::-1], 1)[:, ::-1]
    above_right = exclusive_cumsum(above_right, 0)
    col_below = A[::-1].cumsum(axis=0)[::-1] - A
    row_left = exclusive_cumsum(A, 1)
    # i1 at (r, s): (b, x), (c, y) with r < b < c, x < y < s -> sum over c > r, y < s of
    # A[c, y] * (above_left[c, y] - above_left[r + 1, y])
    weighted = A * above_left
    below_weighted = weighted[::-1].cumsum(axis=0)[::-1] - weighted
    next_above_left = np.vstack([above_left[1:], above_left[-1:] + A[-1:].cumsum(axis=1) - A[-1:]])
    as_i1 = exclusive_cumsum(below_weighted - next_above_left * col_below, 1)
    # i2 at (r, s): (a, z), (c, y) with a < r < c, s < y < z -> sum over y > s of above_right * col_below
    as_i2 = exclusive_cumsum((above_right * col_below)[:, ::-1], 1)[:, ::-1]
    # i3 at (r, s): (a, z), (b, x) with a < b < r, x < s < z -> sum over b < r of above_right * row_left
    as_i3 = exclusive_cumsum(above_right * row_left, 0)
    return as_i1 + as_i2 + as_i3


def pick(mask, rng):
    """A uniformly random (r, s) among the True entries of mask, or None."""
    idx = np.flatnonzero(mask)
    return None if idx.size == 0 else divmod(int(idx[rng.integers(idx.size)]), mask.shape[0])


def repair(A, rng):
    """Delete the 1 in most 312 occurrences (ties at random), recounting, until A avoids 312."""
    while True:
        per_one = occurrences(A) * A
        best = per_one.max()
        if best <= 0:
            return A
        A[pick(per_one == best, rng)] = 0


def greedy_add(A, rng, taboo):
    """Add 1s at uniformly random cells outside `taboo` that complete no 312, until none is left."""
    while (cell := pick((A == 0) & (occurrences(A) == 0) & ~taboo, rng)) is not None:
        A[cell] = 1
    return A


_SUBSETS = {}


def permanent(A):
    """Ryser: sum over column sets S of (-1)^(n - |S|) prod_i (row sum of i over S), in uint64
    (exact modulo 2^64, and the permanent is below 2^63 for n <= 20)."""
    n = A.shape[0]
    if n not in _SUBSETS:
        sets = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
        _SUBSETS[n] = (sets, np.where((n - sets.sum(axis=1)) % 2 == 0, 1, -1).astype(np.int64))
    sets, signs = _SUBSETS[n]
    products = np.prod((sets @ A.T).astype(np.uint64), axis=1)
    return int(((products * signs.astype(np.uint64)).sum(dtype=np.uint64)).astype(np.int64))


def matching_size(A):
    """Largest set of 1s with no two in a line, by augmenting paths."""
    n = A.shape[0]
    row_of = [-1] * n

    def augment(r, seen):
        for c in np.flatnonzero(A[r]):
            if not seen[c]:
                seen[c] = True
                if row_of[c] < 0 or augment(row_of[c], seen):
                    row_of[c] = r
                    return True
        return False

    return sum(augment(r, [False] * n) for r in range(n))


def climb_value(A):
    value = permanent(A)
    return value if value > 0 else matching_size(A) - A.shape[0]


def climb(A, rng, iterations, kick):
    value = climb_value(A)
    nothing = np.zeros(A.shape, dtype=bool)
    for _ in range(iterations):
        trial = A.copy()
        removed = np.zeros(A.shape, dtype=bool)
        for _ in range(kick):
            if (cell := pick(trial > 0, rng)) is not None:
                trial[cell] = 0
                removed[cell] = True
        greedy_add(greedy_add(trial, rng, removed), rng, nothing)
        if (trial_value := climb_value(trial)) >= value:
            A, value = trial, trial_value
    return A


def local_search(problem, batch, rng):
    n, params = problem.n, problem.params
    out = np.empty_like(batch)
    nothing = np.zeros((n, n), dtype=bool)
    for i, rows in enumerate(batch):
        A = greedy_add(repair(to_matrix(rows, n), rng), rng, nothing)
        out[i] = to_rows(climb(A, rng, params.climb, params.kick))
    return out
