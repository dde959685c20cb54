"""The largest permanent of an n x n 0-1 matrix avoiding the pattern 312 (OEIS A343844).

A matrix contains 312 when some rows i1 < i2 < i3 and columns j1 < j2 < j3 hold 1s at
(i1, j3), (i2, j1), (i3, j2); it avoids 312 otherwise. One of the problems of the PatternBoost
paper (arXiv 2411.00566). Known maxima f(1..8) = 1 2 4 8 16 32 64 120 and lower bounds
f(9) >= 225, f(10) >= 424, f(11) >= 795, f(12) >= 1484; the 123 pattern gives 9 already at n = 4.

Adding a 1 never lowers the permanent, so the search keeps to maximal 312-avoiding matrices:
repair, random greedy filling, then an iterated-greedy climb on the permanent. The symmetries
that keep both the permanent and 312-avoidance are the identity and the reflection in the
anti-diagonal, (i, j) -> (n-1-j, n-1-i).

A 312-avoiding matrix has fewer than 4n ones: a 1 with a 1 to its left in its row, a 1 below it
in its column and a 1 strictly above and to the right would complete a 312, and at most n ones
lack the first (the leftmost of each row), n the second (the lowest of each column) and 2n - 1
the third (those form a staircase). Maximal ones found here all have 4n - 4.
"""
import dataclasses
import functools
import itertools

import numpy as np

from local_search import permanent as kernels
from patternboost import Problem, object_seeds

# f(n) for n = 1..12: proven maxima up to n = 8, best known lower bounds after that.
BEST = [1, 2, 4, 8, 16, 32, 64, 120, 225, 424, 795, 1484]
EXACT_UP_TO = 8

# cells: one token r * n + c per 1, in row-major order; rows: each row's columns, rows separated
# by the token n; bits: all n * n entries row by row.
ENCODINGS = ("cells", "rows", "bits")


class PermanentAvoid(Problem):
    """Largest permanent of an n x n 0-1 matrix with no 312 pattern."""

    @dataclasses.dataclass
    class Params:
        n: int = 10
        encoding: str = "cells"  # see ENCODINGS
        climb: int = 300  # iterated-greedy steps after repair + greedy fill (0 = plain random greedy)
        kick: int = 2  # 1s deleted per iterated-greedy step

    name = "permanent_avoid"

    def __init__(self, params=None):
        super().__init__(params)
        n = self.params.n
        if not 1 <= n <= kernels.MAX_N:
            raise ValueError(f"n must be between 1 and {kernels.MAX_N} (the permanent is a 2**n-slot DP), got {n}")
        if self.params.climb < 0 or self.params.kick < 1:
            raise ValueError(f"climb must be >= 0 and kick >= 1, got climb={self.params.climb}, "
                             f"kick={self.params.kick}")
        if self.params.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}, got {self.params.encoding!r}")
        self.n = n
        most_ones = 4 * n - 1  # proved in the module docstring
        self.increasing = self.params.encoding == "cells"  # cell indices in order
        if self.params.encoding == "cells":
            self.vocab_size, self.max_length = n * n, most_ones
        elif self.params.encoding == "rows":
            self.vocab_size, self.max_length = n + 1, most_ones + n - 1  # columns, row separator
        else:
            self.vocab_size, self.max_length = 2, n * n
        if n <= len(BEST):
            self.known_best = float(BEST[n - 1])
            self.known_optimal = n <= EXACT_UP_TO
        self.settings = {"loop.initial": 20000}  # about 1 ms per search (one core)

    # --- search ---------------------------------------------------------------

    def initial(self, count, seed):
        # Random 312-avoiding permutation matrices: the permanent starts at 1, never at the
        # plateau of zeros where most random maximal matrices sit.
        return kernels.random_avoiding_permutation_batch(self.n, object_seeds(seed, count))

    def local_search(self, batch, seed):
        batch = np.ascontiguousarray(batch, dtype=np.uint64)
        return kernels.local_search_batch(batch, object_seeds(seed, len(batch)), self.params.climb, self.params.kick)

    def score(self, batch):
        # The permanent of the repaired matrix: a matrix containing 312 scores what repair leaves.
        batch = np.ascontiguousarray(batch, dtype=np.uint64)
        repaired = kernels.repair_batch(batch, object_seeds(0, len(batch)))
        return kernels.permanent_batch(repaired).astype(np.float64)

    def canonical_key(self, batch):
        return kernels.canonical_key_batch(np.ascontiguousarray(batch, dtype=np.uint64))

    # --- tokens ---------------------------------------------------------------

    def to_matrix(self, obj):
        """The 0-1 matrix of one object as an (n, n) int array."""
        values = [int(row) for row in obj]
        if len(values) != self.n or any(v >> self.n for v in values):
            raise ValueError(f"expected {self.n} rows of {self.n} bits, got {len(values)} rows "
                             f"or bits beyond column {self.n - 1}")
        return np.array([[(v >> j) & 1 for j in range(self.n)] for v in values], dtype=np.int64)

    def encode(self, batch):
        out = []
        for obj in batch:
            matrix = self.to_matrix(obj)
            if self.params.encoding == "cells":
                out.append(np.flatnonzero(matrix.ravel()))
            elif self.params.encoding == "rows":
                out.append(np.concatenate([np.append(np.flatnonzero(row), self.n) for row in matrix])[:-1])
            else:
                out.append(matrix.ravel())
        return out

    def decode(self, sequences):
        out = np.zeros((len(sequences), self.n), dtype=np.uint64)
        valid = np.ones(len(sequences), dtype=bool)
        for i, seq in enumerate(sequences):
            seq = np.asarray(seq, dtype=np.int64)
            in_range = bool(np.all((seq >= 0) & (seq < self.vocab_size)))
            seq = seq[(seq >= 0) & (seq < self.vocab_size)]
            if self.params.encoding == "cells":
                valid[i] = in_range and bool(np.all(np.diff(seq) > 0))  # a set of cells, in order
                cells = np.unique(seq)
                rows, cols = cells // self.n, cells % self.n
            elif self.params.encoding == "rows":
                (rows, cols), well_formed = self._decode_rows(seq)
                valid[i] = in_range and well_formed
            else:
                valid[i] = in_range and len(seq) == self.n * self.n
                rows, cols = np.divmod(np.flatnonzero(seq[: self.n * self.n]), self.n)
            np.bitwise_or.at(out[i], rows, np.uint64(1) << cols.astype(np.uint64))
        return out, valid

    def _decode_rows(self, seq):
        """(rows, columns) of the 1s of a row-by-row encoding, and whether it was well formed."""
        parts = np.split(seq, np.flatnonzero(seq == self.n))
        parts = [p[p != self.n] for p in parts]
        well_formed = len(parts) == self.n and all(bool(np.all(np.diff(p) > 0)) for p in parts)
        rows = np.concatenate([np.full(len(p), r) for r, p in enumerate(parts[: self.n])])
        cols = np.concatenate(parts[: self.n])
        return (rows.astype(np.int64), cols.astype(np.int64)), well_formed

    # --- reporting ------------------------------------------------------------

    def verify(self, obj):
        """Independent of the kernels: an itertools search for 312 and a permanent expanded
        row by row with memoised column sets."""
        matrix = self.to_matrix(obj)
        occurrence = find_312(matrix)
        if occurrence is not None:
            (a, b, c), (x, y, z) = occurrence
            raise ValueError(f"pattern 312 at rows {a} < {b} < {c}, columns {x} < {y} < {z}: "
                             f"1s at ({a}, {z}), ({b}, {x}), ({c}, {y})")
        return float(plain_permanent(matrix))

    def to_native(self, obj):
        matrix = self.to_matrix(obj)
        return {"n": self.n, "matrix": matrix.tolist(), "ones": int(matrix.sum())}

    def render(self, obj):
        matrix = self.to_matrix(obj)
        lines = [f"permanent: {kernels.permanent(np.ascontiguousarray(obj, dtype=np.uint64))}",
                 f"ones: {int(matrix.sum())}"]
        return "\n".join(lines + ["".join(str(v) for v in row) for row in matrix])

    def draw(self, obj, path):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        matrix = self.to_matrix(obj)
        value = kernels.permanent(np.ascontiguousarray(obj, dtype=np.uint64))
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.imshow(matrix, cmap="Greys", vmin=0, vmax=1)
        ax.set_xticks(np.arange(-0.5, self.n), minor=True)
        ax.set_yticks(np.arange(-0.5, self.n), minor=True)
        ax.grid(which="minor", color="0.7", linewidth=0.5)
        ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
        ax.set_title(f"312-avoiding {self.n} x {self.n} matrix, permanent {value}")
        fig.savefig(path, dpi=120)
        plt.close(fig)


def find_312(matrix):
    """((i1, i2, i3), (j1, j2, j3)) of some 312 occurrence in a 0-1 matrix, or None."""
    ones = [[j for j, v in enumerate(row) if v] for row in np.asarray(matrix).tolist()]
    for a, b, c in itertools.combinations(range(len(ones)), 3):
        for z, x, y in itertools.product(ones[a], ones[b], ones[c]):
            if x < y < z:
                return (a, b, c), (x, y, z)
    return None


def plain_permanent(matrix):
    """Sum over permutations by expansion along the rows; the count of ways to finish from a
    row, given the set of columns used so far, is memoised."""
    ones = [tuple(j for j, v in enumerate(row) if v) for row in np.asarray(matrix).tolist()]

    @functools.cache
    def ways(row, used):
        if row == len(ones):
            return 1
        return sum(ways(row + 1, used | (1 << j)) for j in ones[row] if not used >> j & 1)

    return ways(0, 0)
