"""No-isosceles point sets by simulated annealing over the orbits of a symmetry group of the grid.

Restricting the search to sets invariant under a group (both diagonals, say) shrinks it by the group's order, and
the extremal sets found so far have such symmetries: measured on one core, annealing over the orbits of the two
diagonal reflections finds the n = 32 optimum, 56, in seconds to a minute, where the unrestricted search of
isosceles.py stops at 48-49 (benchmarks/results/isosceles_search/). "none" gives single cells: the same kernels then
anneal without symmetry.

A set is a union of orbits. Cells fixed by a group element are left out (such a cell is equidistant from any point
and its image), and so are orbits that hold an isosceles triangle on their own. The cell-level state is the one of
isosceles.py: `blocked[c]` = isosceles triangles c makes with two points of S (for c in S: |S| - 1 more), and T,
the number of isosceles triangles in S, is kept exactly: adding a cell c adds blocked[c] triangles, removing x
loses blocked[x] - (|S| - 1). Every kernel is deterministic given its uint64 seed.
"""
import numpy as np
from numba import njit, prange

from local_search import isosceles as iso
from local_search.bits import randint

SYMMETRIES = ("none", "mirror", "rot180", "diag", "klein", "diag2")


def images(n, sym, r, c):
    """The cells of the orbit of (r, c) under the group `sym` (with repetitions)."""
    m = n - 1
    if sym == "none":
        return [(r, c)]
    if sym == "mirror":  # about the vertical middle axis
        return [(r, c), (r, m - c)]
    if sym == "rot180":
        return [(r, c), (m - r, m - c)]
    if sym == "diag":  # about the main diagonal
        return [(r, c), (c, r)]
    if sym == "klein":  # both middle axes (includes rot180)
        return [(r, c), (r, m - c), (m - r, c), (m - r, m - c)]
    if sym == "diag2":  # both diagonals (includes rot180)
        return [(r, c), (c, r), (m - c, m - r), (m - r, m - c)]
    raise ValueError(f"unknown symmetry {sym!r}, expected one of {SYMMETRIES}")


def _isosceles_free(points):
    for i, p in enumerate(points):
        d = [(p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 for j, q in enumerate(points) if j != i]
        if len(set(d)) < len(d):
            return False
    return True


def orbits(n, sym):
    """(orbit_cells (n_orbits, g) int64 padded with -1, orbit_size (n_orbits,) int64). Orbits
    that contain an isosceles triangle on their own (points on a mirror axis are in one with any
    mirror pair, a 4-cell orbit of a square, ...) are left out, and so are mirror-axis and centre
    cells, which are equidistant from every pair of mirror images / from P and its 180-degree image."""
    seen = set()
    out = []
    for r in range(n):
        for c in range(n):
            if (r, c) in seen:
                continue
            cells = sorted(set(images(n, sym, r, c)))
            seen.update(cells)
            fixed = len(cells) < len(images(n, sym, r, c))  # a cell fixed by some group element
            if fixed and sym != "none":
                # A fixed cell is equidistant from Q and its image under that element for every Q,
                # so it can only be in sets with no other orbit: useless, leave it out.
                continue
            if not _isosceles_free(cells):
                continue
            out.append([rr * n + cc for rr, cc in cells])
    g = max(len(o) for o in out)
    cells = -np.ones((len(out), g), dtype=np.int64)
    size = np.zeros(len(out), dtype=np.int64)
    for i, o in enumerate(out):
        cells[i, :len(o)] = o
        size[i] = len(o)
    return cells, size


SIZE, TRI, MOVE, KORB = 0, 1, 2, 3  # the scalars of a search state: |S| (cells), T, moves made, orbits in S

# --- cell-level updates with a slot index ------------------------------------------------------


@njit(cache=True)
def _add_cell(member, blocked, rows, cols, pos, size, cell, n, tables, hits):
    """Returns (new size, triangles added)."""
    added = blocked[cell]
    pos[cell] = size
    size = iso.add_point(member, blocked, rows, cols, size, cell, n, tables, hits)
    return size, added


@njit(cache=True)
def _remove_cell(member, blocked, rows, cols, pos, size, cell, n, tables, hits):
    """Returns (new size, triangles removed)."""
    lost = blocked[cell] - (size - 1)
    slot = pos[cell]
    last = rows[size - 1] * n + cols[size - 1]
    size, _ = iso.remove_point(member, blocked, rows, cols, size, slot, n, tables, hits, iso.NO_HITS)
    pos[last] = slot
    pos[cell] = -1
    return size, lost


@njit(cache=True)
def add_orbit(member, blocked, rows, cols, pos, orb_in, scal, o, orbit_cells, n, tables, hits):
    size, tri = scal[SIZE], scal[TRI]
    for j in range(orbit_cells.shape[1]):
        cell = orbit_cells[o, j]
        if cell < 0:
            break
        size, added = _add_cell(member, blocked, rows, cols, pos, size, cell, n, tables, hits)
        tri += added
    orb_in[o] = 1
    scal[SIZE], scal[TRI] = size, tri
    scal[KORB] += 1


@njit(cache=True)
def remove_orbit(member, blocked, rows, cols, pos, orb_in, scal, o, orbit_cells, n, tables, hits):
    size, tri = scal[SIZE], scal[TRI]
    for j in range(orbit_cells.shape[1]):
        cell = orbit_cells[o, j]
        if cell < 0:
            break
        size, lost = _remove_cell(member, blocked, rows, cols, pos, size, cell, n, tables, hits)
        tri -= lost
    orb_in[o] = 0
    scal[SIZE], scal[TRI] = size, tri
    scal[KORB] -= 1


@njit(cache=True)
def _orbit_h(blocked, o, orbit_cells):
    h = 0
    for j in range(orbit_cells.shape[1]):
        cell = orbit_cells[o, j]
        if cell < 0:
            break
        h += blocked[cell]
    return h


@njit(cache=True)
def try_add_orbit(member, blocked, rows, cols, pos, orb_in, scal, o, orbit_cells, n, tables, hits):
    """Add orbit o only if S stays isosceles-free; returns whether it was added."""
    if _orbit_h(blocked, o, orbit_cells) != 0:
        return False
    add_orbit(member, blocked, rows, cols, pos, orb_in, scal, o, orbit_cells, n, tables, hits)
    if scal[TRI] == 0:
        return True
    remove_orbit(member, blocked, rows, cols, pos, orb_in, scal, o, orbit_cells, n, tables, hits)
    return False


@njit(cache=True)
def greedy_fill(member, blocked, rows, cols, pos, orb_in, scal, orbit_cells, n, tables, hits, order, state):
    """Random greedy over orbits (S must be valid): returns state."""
    n_orb = orbit_cells.shape[0]
    for i in range(n_orb):
        order[i] = i
    for i in range(n_orb - 1, 0, -1):  # shuffle
        state, j = randint(state, i + 1)
        order[i], order[j] = order[j], order[i]
    for i in range(n_orb):
        o = order[i]
        if orb_in[o] == 0:
            try_add_orbit(member, blocked, rows, cols, pos, orb_in, scal, o, orbit_cells, n, tables, hits)
    return state


@njit(cache=True)
def _record(member, scal, best, best_size):
    if scal[TRI] == 0 and scal[SIZE] > best_size[0]:
        best[:] = member
        best_size[0] = scal[SIZE]


@njit(cache=True)
def _conflicting_orbit(blocked, orb_in, scal, orbit_cells, state):
    """A uniformly random orbit of S with a cell in a triangle (-1 if none)."""
    size = scal[SIZE]
    seen, pick_o = 0, -1
    for o in range(orbit_cells.shape[0]):
        if orb_in[o] == 0:
            continue
        ex = 0
        for j in range(orbit_cells.shape[1]):
            cell = orbit_cells[o, j]
            if cell < 0:
                break
            ex += blocked[cell] - (size - 1)
        if ex > 0:
            seen += 1
            state, k = randint(state, seen)
            if k == 0:
                pick_o = o
    return state, pick_o


@njit(cache=True)
def _least_blocked_orbit(blocked, orb_in, tabu, move, orbit_cells, orbit_size, ties, state,
                         aspire):
    """A random non-member, non-tabu orbit with the fewest triangles per cell with S (exactly:
    the sum of blocked over its cells; orbits of one size compare by the sum). With aspire,
    tabu orbits with h = 0 count too."""
    best, count = np.int64(1) << 60, 0
    for o in range(orbit_cells.shape[0]):
        if orb_in[o]:
            continue
        h = _orbit_h(blocked, o, orbit_cells)
        if tabu[o] > move and not (aspire and h == 0):
            continue
        # Compare per cell (orbits of different sizes exist for some groups).
        hs = h * 4 // orbit_size[o]
        if hs < best:
            best, count = hs, 0
        if hs == best:
            ties[count] = o
            count += 1
    if count == 0:
        return state, -1
    state, k = randint(state, count)
    return state, ties[k]


# --- annealing with exact swap deltas (no trial updates) ------------------------------------------


@njit(cache=True, inline="always")
def _two_equal(x, y, z):
    """Whether a triangle with these squared side lengths is isosceles."""
    return x == y or x == z or y == z


@njit(cache=True, inline="always")
def _d2(r1, c1, r2, c2):
    return (r1 - r2) * (r1 - r2) + (c1 - c2) * (c1 - c2)


@njit(cache=True)
def swap_delta(rows, cols, size, blocked, a_cells, ga, b_cells, gb, n, da, db):
    """Exact change of T when orbit A (cells a_cells[:ga], in S) leaves and orbit B (b_cells[:gb],
    outside S) joins, from the counts of S in O(g^2 |S|). Orbits contain no triangle on their own.
    da, db: scratch (4,) for the squared distances of A's and B's cells to a point Q of S.

    Loss = sum_a e[a] - #{pairs in A, Q in S \\ A in a triangle} (e = triangles through a).
    Gain = sum_b blocked[b] - #{a in A, Q in S \\ A: {b, a, Q}} - #{pairs in A: {b, a, a'}}
           + #{pairs in B, Q in S \\ A: {b, b', Q}}."""
    loss, gain = 0, 0
    for j in range(ga):
        loss += blocked[a_cells[j]] - (size - 1)
    for j in range(gb):
        gain += blocked[b_cells[j]]
    ar = np.empty(4, dtype=np.int64)
    ac = np.empty(4, dtype=np.int64)
    br = np.empty(4, dtype=np.int64)
    bc = np.empty(4, dtype=np.int64)
    for j in range(ga):
        ar[j], ac[j] = a_cells[j] // n, a_cells[j] % n
    for j in range(gb):
        br[j], bc[j] = b_cells[j] // n, b_cells[j] % n
    for i in range(size):
        qr, qc = rows[i], cols[i]
        q = qr * n + qc
        in_a = False
        for j in range(ga):
            if a_cells[j] == q:
                in_a = True
        if in_a:
            continue
        for j in range(ga):
            da[j] = _d2(ar[j], ac[j], qr, qc)
        for j in range(gb):
            db[j] = _d2(br[j], bc[j], qr, qc)
        # pairs in A with Q
        for j in range(ga):
            for k in range(j):
                if _two_equal(da[j], da[k], _d2(ar[j], ac[j], ar[k], ac[k])):
                    loss -= 1
        # b, a, Q
        for j in range(gb):
            for k in range(ga):
                if _two_equal(db[j], da[k], _d2(br[j], bc[j], ar[k], ac[k])):
                    gain -= 1
        # pairs in B with Q
        for j in range(gb):
            for k in range(j):
                if _two_equal(db[j], db[k], _d2(br[j], bc[j], br[k], bc[k])):
                    gain += 1
    # b with a pair of A
    for j in range(gb):
        for k in range(ga):
            for m in range(k):
                if _two_equal(_d2(br[j], bc[j], ar[k], ac[k]), _d2(br[j], bc[j], ar[m], ac[m]),
                              _d2(ar[k], ac[k], ar[m], ac[m])):
                    gain -= 1
    return gain - loss


@njit(cache=True)
def anneal_run(member, blocked, rows, cols, pos, orb_in, tabu, scal, best, best_size,
                orbit_cells, orbit_size, n, tables, moves, temperature, sample, state, check):
    """`moves` Metropolis steps at a fixed temperature on T, the number of orbits fixed: a move takes a random
    orbit of S that lies in a triangle out and puts in the least-blocked of `sample` random orbits; its change of T
    is computed exactly before anything is updated (swap_delta), so a rejected move costs O(g^2 |S|), not four
    orbit updates. When T = 0 the set is recorded, filled greedily and grown by the least-blocked orbit."""
    n_orb = orbit_cells.shape[0]
    hits = np.empty(n * n, dtype=np.int64)
    ties = np.empty(n_orb, dtype=np.int64)
    da, db = np.empty(4, dtype=np.int64), np.empty(4, dtype=np.int64)
    for _ in range(moves):
        scal[MOVE] += 1
        if scal[TRI] == 0:
            state = greedy_fill(member, blocked, rows, cols, pos, orb_in, scal, orbit_cells, n, tables,
                                hits, ties, state)
            _record(member, scal, best, best_size)
            state, o = _least_blocked_orbit(blocked, orb_in, tabu, np.int64(1) << 62, orbit_cells, orbit_size,
                                            ties, state, True)
            if o >= 0:
                add_orbit(member, blocked, rows, cols, pos, orb_in, scal, o, orbit_cells, n, tables, hits)
            continue
        state, out = _conflicting_orbit(blocked, orb_in, scal, orbit_cells, state)
        best_h, into = np.int64(1) << 60, -1
        for _ in range(sample):
            state, o = randint(state, n_orb)
            if orb_in[o]:
                continue
            h = _orbit_h(blocked, o, orbit_cells) * 4 // orbit_size[o]
            if h < best_h:
                best_h, into = h, o
        if into < 0:
            continue
        delta = swap_delta(rows, cols, scal[SIZE], blocked, orbit_cells[out], orbit_size[out],
                           orbit_cells[into], orbit_size[into], n, da, db)
        accept = delta <= 0
        if not accept and temperature > 0:
            state, u = randint(state, 1 << 30)
            accept = u < np.exp(-delta / temperature) * (1 << 30)
        if accept:
            before = scal[TRI]
            remove_orbit(member, blocked, rows, cols, pos, orb_in, scal, out, orbit_cells, n, tables, hits)
            add_orbit(member, blocked, rows, cols, pos, orb_in, scal, into, orbit_cells, n, tables, hits)
            if check and scal[TRI] - before != delta:
                print("swap_delta mismatch", delta, scal[TRI] - before)
            _record(member, scal, best, best_size)
    return state


# --- the search from a start, in batches -------------------------------------------------------


@njit(cache=True)
def search(grid, seed, orbit_cells, orbit_size, tables, moves, temperature, sample):
    """The largest valid set found from `grid` (n*n cells, 1 = point): every orbit with a point of the grid joins,
    random orbits in triangles leave until none is left, a random greedy fill, then `moves` annealing steps."""
    cells, n_orb = grid.shape[0], orbit_cells.shape[0]
    n = int(np.sqrt(cells))
    member, pos = np.zeros(cells, dtype=np.uint8), -np.ones(cells, dtype=np.int64)
    blocked = np.zeros(cells + 1, dtype=np.int32)
    blocked[-1] = iso.SENTINEL
    rows, cols = np.zeros(cells, dtype=np.int64), np.zeros(cells, dtype=np.int64)
    orb_in, tabu = np.zeros(n_orb, dtype=np.uint8), np.zeros(n_orb, dtype=np.int64)
    scal, hits, order = np.zeros(4, dtype=np.int64), np.empty(cells, dtype=np.int64), np.empty(n_orb, dtype=np.int64)
    best, best_size = np.zeros(cells, dtype=np.uint8), np.zeros(1, dtype=np.int64)
    for o in range(n_orb):
        for j in range(orbit_size[o]):
            if grid[orbit_cells[o, j]]:
                add_orbit(member, blocked, rows, cols, pos, orb_in, scal, o, orbit_cells, n, tables, hits)
                break
    state = seed
    while scal[TRI] > 0:
        state, o = _conflicting_orbit(blocked, orb_in, scal, orbit_cells, state)
        remove_orbit(member, blocked, rows, cols, pos, orb_in, scal, o, orbit_cells, n, tables, hits)
    state = greedy_fill(member, blocked, rows, cols, pos, orb_in, scal, orbit_cells, n, tables, hits, order, state)
    _record(member, scal, best, best_size)
    anneal_run(member, blocked, rows, cols, pos, orb_in, tabu, scal, best, best_size, orbit_cells, orbit_size, n,
               tables, moves, temperature, sample, state, False)
    return best


@njit(cache=True, parallel=True)
def search_batch(grids, seeds, orbit_cells, orbit_size, moves, temperature, sample):
    """search() from every (n, n) grid of a batch, each with its own seed, in parallel."""
    count, n = grids.shape[0], grids.shape[1]
    out = np.zeros_like(grids)
    tables = iso.geometry(n)
    for i in prange(count):
        out[i] = search(grids[i].reshape(n * n), seeds[i], orbit_cells, orbit_size, tables, moves, temperature,
                        sample).reshape(n, n)
    return out
