"""Plain numpy version of the no_isosceles local search (no numba), for benchmarks/throughput.py.

The same algorithm as local_search/isosceles.py, vectorised over grid cells instead of walking
bisectors and circles: repair (drop the point in most isosceles triangles, ties at random),
random greedy fill, `climb` iterated-greedy steps (kick out `kick` random points, refill, keep
unless smaller), then `tabu` min-conflicts moves. `blocked[c]` counts the isosceles triangles
cell c makes with two points of the set (see the kernel module); `dist[:, i]` holds the
squared distances from every cell to the i-th point.
"""
import numpy as np


class Search:
    """A point set with the squared distances from every cell to its points and the counts."""

    def __init__(self, n, cells_r, cells_c):
        self.n, self.r, self.c = n, cells_r, cells_c
        self.points = []  # cell indices, in slot order
        self.dist = np.zeros((n * n, 0), dtype=np.int64)
        self.blocked = np.zeros(n * n, dtype=np.int64)

    def copy(self):
        other = Search(self.n, self.r, self.c)
        other.points, other.dist, other.blocked = list(self.points), self.dist.copy(), self.blocked.copy()
        return other

    def _reasons(self, x, dist_x):
        """Per cell, the triangles {cell, x, p} over the points p != x of the set."""
        others = [i for i, p in enumerate(self.points) if p != x]
        if not others:
            return np.zeros(self.n * self.n, dtype=np.int64)
        dist_p = self.dist[:, others]  # cells x points
        dist_xp = dist_x[np.array(self.points)[others]]  # |x p|^2 per point
        apex_cell = (dist_p == dist_x[:, None]).sum(axis=1)
        apex_x = (dist_x[:, None] == dist_xp[None, :]).sum(axis=1)
        apex_p = (dist_p == dist_xp[None, :]).sum(axis=1)
        return apex_cell + apex_x + apex_p

    def add(self, x):
        dist_x = (self.r - self.r[x]) ** 2 + (self.c - self.c[x]) ** 2
        self.blocked += self._reasons(x, dist_x)
        self.points.append(x)
        self.dist = np.column_stack([self.dist, dist_x])

    def remove(self, x):
        slot = self.points.index(x)
        dist_x = self.dist[:, slot]
        self.blocked -= self._reasons(x, dist_x)
        del self.points[slot]
        self.dist = np.delete(self.dist, slot, axis=1)

    def member(self):
        inside = np.zeros(self.n * self.n, dtype=bool)
        inside[self.points] = True
        return inside

    def excess(self):
        """Isosceles triangles through each point: its count less the |S| - 1 circles through it."""
        return self.blocked[self.points] - (len(self.points) - 1)

    def fill(self, rng):
        """Random greedy: add a uniformly random free cell until none is left."""
        while True:
            free = np.flatnonzero((self.blocked == 0) & ~self.member())
            if len(free) == 0:
                return
            self.add(int(rng.choice(free)))


def triangle_counts(r, c):
    """Isosceles triangles through each of the points (r, c), from the full distance matrix."""
    dist = (r[:, None] - r[None, :]) ** 2 + (c[:, None] - c[None, :]) ** 2
    counts = np.zeros(len(r), dtype=np.int64)
    for p in range(len(r)):
        others = np.flatnonzero(np.arange(len(r)) != p)
        _, inverse, multiplicity = np.unique(dist[p, others], return_inverse=True, return_counts=True)
        extra = multiplicity[inverse] - 1  # each other point is a base vertex this many times
        counts[others] += extra
        counts[p] += extra.sum() // 2  # apex: pairs at equal distance
    return counts


def repair(grid, rng, thin_above):
    r, c = np.nonzero(grid)
    while len(r) > 2:
        counts = triangle_counts(r, c)
        if len(r) > thin_above:  # garbage: drop the worse half at once
            order = np.lexsort((rng.random(len(r)), counts))
            keep = np.sort(order[: len(r) - len(r) // 2])
        else:
            if counts.max() == 0:
                break
            worst = rng.choice(np.flatnonzero(counts == counts.max()))
            keep = np.flatnonzero(np.arange(len(r)) != worst)
        r, c = r[keep], c[keep]
    return r * grid.shape[0] + c


def climb(state, steps, kick, rng):
    for _ in range(steps):
        trial = state.copy()
        for x in rng.choice(trial.points, size=min(kick, len(trial.points)), replace=False):
            trial.remove(int(x))
        trial.fill(rng)
        if len(trial.points) >= len(state.points):
            state = trial
    return state


def min_conflicts(state, moves, tenure, rng):
    best = state.copy()
    tabu_until = np.zeros(state.n * state.n, dtype=np.int64)
    for move in range(moves):
        excess = state.excess()
        if excess.sum() == 0:
            state.fill(rng)
            if len(state.points) > len(best.points):
                best = state.copy()
        else:
            x = state.points[rng.choice(np.flatnonzero(excess > 0))]
            state.remove(x)
            tabu_until[x] = move + tenure + 1
        open_cells = ~state.member() & (tabu_until <= move)
        if open_cells.any():
            least = state.blocked[open_cells].min()
            state.add(int(rng.choice(np.flatnonzero(open_cells & (state.blocked == least)))))
    if state.excess().sum() == 0:
        state.fill(rng)
        if len(state.points) > len(best.points):
            best = state
    return best


def local_search(problem, batch, rng):
    n, p = problem.n, problem.params
    cells_r, cells_c = np.divmod(np.arange(n * n), n)
    out = np.zeros((len(batch), n, n), dtype=np.uint8)
    for i, grid in enumerate(np.asarray(batch) != 0):
        state = Search(n, cells_r, cells_c)
        for x in repair(grid, rng, problem.thin_above):
            state.add(int(x))
        state.fill(rng)
        state = climb(state, p.climb, p.kick, rng)
        if p.tabu > 0:
            state = min_conflicts(state, p.tabu, p.tenure, rng)
        out[i].reshape(-1)[state.points] = 1
    return out
