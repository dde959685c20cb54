"""Cap sets: the most points of F_3^n with no three distinct points on a line — a complete plugin in one file.

Three distinct points x, y, z of F_3^n lie on a line exactly when x + y + z = 0 (mod 3), so every pair
x, y of a cap forbids one third point, -(x + y). Known maxima 2, 4, 9, 20, 45, 112 for n = 1..6 (Edel, Potechin
and others); best known lower bounds 236 for n = 7 and 512 for n = 8.

    patternboost run examples/cap_set.py:CapSet --set n=5

A point is an integer 0 .. 3^n - 1 (its base-3 digits are its coordinates); an object is a 0/1 vector over all
points. The kernels are numba functions that take one seed per object and carry their own RNG state, so a run
is reproducible and independent of the number of threads.
"""
import dataclasses
import math

import numpy as np
from numba import njit, prange

from patternboost import Problem, object_seeds

KNOWN_BEST = {1: 2, 2: 4, 3: 9, 4: 20, 5: 45, 6: 112, 7: 236, 8: 512}
PROVEN_UP_TO = 6


# --- kernels -------------------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def next_random(state, k):
    """splitmix64 step: (new state, uniform integer in [0, k))."""
    state = state + np.uint64(0x9E3779B97F4A7C15)
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return state, np.int64((z >> np.uint64(33)) % np.uint64(k))


@njit(cache=True)
def third_point(x, y, n):
    """-(x + y) mod 3, digit by digit: the point that completes the line through x and y."""
    z, power = 0, 1
    for _ in range(n):
        z += ((6 - x % 3 - y % 3) % 3) * power
        x, y, power = x // 3, y // 3, power * 3
    return z


@njit(cache=True)
def place(point, sign, members, size, blocked, n):
    """Add (sign = 1) or remove (sign = -1) the block of every line through `point` and a member."""
    for i in range(size):
        blocked[third_point(point, members[i], n)] += sign


@njit(cache=True)
def negation(x, n):
    """-x mod 3, digit by digit."""
    z, power = 0, 1
    for _ in range(n):
        z += ((3 - x % 3) % 3) * power
        x, power = x // 3, power * 3
    return z


@njit(cache=True)
def add_point(point, points, members, size, blocked, n):
    place(point, 1, members, size, blocked, n)
    points[point] = 1
    members[size] = point
    return size + 1


@njit(cache=True)
def drop_member(i, points, members, size, blocked, n):
    point = members[i]
    size -= 1
    members[i] = members[size]
    points[point] = 0
    place(point, -1, members, size, blocked, n)
    return size


@njit(cache=True)
def greedy_fill(points, members, size, blocked, order, n, symmetric):
    """Add the points of `order` that complete no line, in that order; returns the new size. Symmetric: each
    with its negation, and never 0 (the midpoint of x and -x); in a cap closed under negation -x is blocked
    exactly when x is (negate the blocking pair), and adding x does not block -x."""
    for point in order:
        if points[point] == 0 and blocked[point] == 0 and not (symmetric and point == 0):
            size = add_point(point, points, members, size, blocked, n)
            if symmetric:
                size = add_point(negation(point, n), points, members, size, blocked, n)
    return size


@njit(cache=True)
def shuffle(values, state):
    for i in range(len(values) - 1, 0, -1):
        state, j = next_random(state, i + 1)
        values[i], values[j] = values[j], values[i]
    return state


@njit(cache=True)
def search_one(start, seed, n, climb, kick, symmetric):
    """Repair (re-insert the start's points in random order, keeping those that complete no line), fill greedily
    with random points, then `climb` times: drop `kick` random points, refill, keep the result if no smaller.
    Symmetric: the same over caps closed under negation (points go in and out with their negations)."""
    total = len(start)
    points = np.zeros(total, dtype=np.uint8)
    members = np.empty(total, dtype=np.int64)
    blocked = np.zeros(total, dtype=np.int64)
    state = np.uint64(seed)
    kept = np.flatnonzero(start)
    state = shuffle(kept, state)
    size = greedy_fill(points, members, 0, blocked, kept, n, symmetric)
    order = np.arange(total)
    state = shuffle(order, state)
    size = greedy_fill(points, members, size, blocked, order, n, symmetric)
    for _ in range(climb):
        saved_points, saved_members, saved_blocked, saved_size = points.copy(), members.copy(), blocked.copy(), size
        for _ in range(min(kick, size)):
            if size == 0:
                break
            state, i = next_random(state, size)
            point = members[i]
            size = drop_member(i, points, members, size, blocked, n)
            if symmetric:
                negated, j = negation(point, n), 0
                while members[j] != negated:
                    j += 1
                size = drop_member(j, points, members, size, blocked, n)
        state = shuffle(order, state)
        size = greedy_fill(points, members, size, blocked, order, n, symmetric)
        if size < saved_size:
            points, members, blocked, size = saved_points, saved_members, saved_blocked, saved_size
    return points


@njit(cache=True, parallel=True)
def search_batch(batch, seeds, n, climb, kick, symmetric):
    out = np.empty_like(batch)
    for b in prange(len(batch)):
        out[b] = search_one(batch[b], seeds[b], n, climb, kick, symmetric)
    return out


@njit(cache=True, parallel=True)
def blocking_profile(batch, n):
    """For each cap, how many points are blocked by exactly k of its pairs, k = 0..: invariant under the affine
    maps of F_3^n, which map lines to lines. A coarse invariant: equivalent caps share it, and so may a few
    inequivalent ones, which the elite pool then keeps only once."""
    total = batch.shape[1]
    profiles = np.zeros((len(batch), total), dtype=np.int64)
    for b in prange(len(batch)):
        members = np.flatnonzero(batch[b])
        blocked = np.zeros(total, dtype=np.int64)
        for i in range(len(members)):
            place(members[i], 1, members, i, blocked, n)
        for point in range(total):
            profiles[b, blocked[point]] += 1
    return profiles


# --- the problem -----------------------------------------------------------------------------------------------


class CapSet(Problem):
    """Most points of F_3^n with no three on a line."""

    @dataclasses.dataclass
    class Params:
        n: int = 5
        climb: int = 50  # iterated-greedy steps per local search (0 = plain random greedy)
        kick: int = 3  # points dropped per step
        # Search only caps closed under x -> -x (0 left out): the 112-cap of F_3^6 is one (the Hill cap of PG(5, 3),
        # each point with its negation), found in seconds this way; for n = 5 such caps stop at 40 of 45.
        symmetric: bool = False

    name = "cap_set"

    def __init__(self, params=None):
        super().__init__(params)
        n = self.params.n
        if not 1 <= n <= 8:
            raise ValueError(f"n must be between 1 and 8, got {n}")
        if self.params.climb < 0 or self.params.kick < 1:
            raise ValueError("climb must be >= 0 and kick >= 1")
        self.n, self.points = n, 3**n
        self.vocab_size = self.points  # one token per point of the cap, in increasing order
        self.increasing = True  # so sampling never breaks the order
        self.max_length = math.floor(2 * 3**n / n) if n > 2 else KNOWN_BEST[n]  # Meshulam's bound 2 * 3^n / n
        self.known_best = float(KNOWN_BEST[n])
        self.known_optimal = n <= PROVEN_UP_TO
        # Recommended engine settings: searches take about 1 ms; symmetric ones are meant to climb long (2,000
        # steps: tens of ms), and a fifth of those end at the optimum for n = 6.
        self.settings = {"loop.initial": 2000 if self.params.symmetric else 20000}

    def initial(self, count, seed):
        return np.zeros((count, self.points), dtype=np.uint8)

    def local_search(self, batch, seed):
        p = self.params
        return search_batch(batch, object_seeds(seed, len(batch)), self.n, p.climb, p.kick, p.symmetric)

    def score(self, batch):
        return batch.sum(axis=1, dtype=np.int64).astype(np.float64)

    def canonical_key(self, batch):
        profiles = blocking_profile(batch, self.n)
        return super().canonical_key(profiles)

    def encode(self, batch):
        return [np.flatnonzero(row) for row in batch]

    def decode(self, sequences):
        out = np.zeros((len(sequences), self.points), dtype=np.uint8)
        valid = np.ones(len(sequences), dtype=bool)
        for i, seq in enumerate(sequences):
            seq = np.asarray(seq, dtype=np.int64)
            in_range = (seq >= 0) & (seq < self.points)
            valid[i] = in_range.all() and np.all(np.diff(seq) > 0)  # a set of points, in order
            out[i, seq[in_range]] = 1
        return out, valid

    def coordinates(self, point):
        return tuple((point // 3**i) % 3 for i in range(self.n))

    def verify(self, obj):
        """Plain Python, independent of the kernels: no two members complete a line with a third."""
        cap = {self.coordinates(p) for p in np.flatnonzero(obj)}
        for x in cap:
            for y in cap:
                z = tuple((-a - b) % 3 for a, b in zip(x, y))
                if x < y and z in cap:
                    raise ValueError(f"{x}, {y}, {z} lie on a line")
        return float(len(cap))

    def to_native(self, obj):
        return {"n": self.n, "size": int(obj.sum()),
                "points": ["".join(map(str, self.coordinates(p))) for p in np.flatnonzero(obj)]}

    def render(self, obj):
        points = self.to_native(obj)["points"]
        return f"cap of size {len(points)} in F_3^{self.n}:\n" + "\n".join(
            " ".join(points[i : i + 12]) for i in range(0, len(points), 12))
