"""No-isosceles point sets in the n x n grid: numba kernels.

A set S of grid points is valid iff no point P of S has two other points Q != R of S with
|PQ|^2 = |PR|^2 (exact integer squared distances; collinear triples with the middle point
equidistant from the ends count too). An object is an (n, n) uint8 grid, 1 = point in S;
a batch is (B, n, n). Cell (r, c) has index r * n + c.

Search state. `blocked[c]` counts the reasons why cell c cannot join S:
one per pair {P, Q} of S whose perpendicular bisector passes through c (c would be the apex
of an isosceles triangle), and one per ordered pair (P, Q) with |Pc| = |PQ| (P would be the
apex). A cell outside S can be added iff its count is zero, so adding or removing a point X
costs one bisector and two circles per other point of S, and testing a cell costs O(1).
Each reason is one isosceles triangle {c, P, Q} (no lattice triangle is equilateral, so it has
one apex), so for any S, valid or not, blocked[c] is the number of isosceles triangles c makes
with two points of S; a point X of S has |S| - 1 (each other point P puts X on the circle
around P through X) plus the number of isosceles triangles through X.

Local search: repair (drop the point in most triangles until none is left), random greedy
fill to a maximal set, an iterated-greedy climb (kick out random points, refill), and a tabu
min-conflicts search that moves points of triangles to the least-blocked cells.

Batch kernels run in parallel over objects, each with its own splitmix64 state seeded from
`seeds`, so results do not depend on the thread count.
"""
import numpy as np
from numba import njit, prange

from local_search.bits import randint, splitmix64

# --- geometry ---------------------------------------------------------------------------


@njit(cache=True)
def circle_table(n):
    """Signed lattice offsets by squared length: the offsets (dr, dc), |dr|, |dc| < n, with
    dr^2 + dc^2 = d are dr_of[start[d]:start[d + 1]], dc_of[...]."""
    top = 2 * (n - 1) * (n - 1) + 1
    start = np.zeros(top + 1, dtype=np.int32)  # small types: the tables stay in cache
    for dr in range(1 - n, n):
        for dc in range(1 - n, n):
            start[dr * dr + dc * dc + 1] += 1
    for d in range(top):
        start[d + 1] += start[d]
    fill = start[:-1].copy()
    dr_of = np.empty((2 * n - 1) ** 2, dtype=np.int16)
    dc_of = np.empty((2 * n - 1) ** 2, dtype=np.int16)
    for dr in range(1 - n, n):
        for dc in range(1 - n, n):
            d = dr * dr + dc * dc
            dr_of[fill[d]] = dr
            dc_of[fill[d]] = dc
            fill[d] += 1
    return start, dr_of, dc_of


@njit(cache=True)
def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


@njit(cache=True)
def _inverse_mod(a, m):
    """a^-1 mod m for gcd(a, m) = 1 (0 when m = 1), by the extended Euclid algorithm."""
    if m == 1:
        return 0
    old_r, r, old_s, s = a % m, m, 1, 0
    while r:
        q = old_r // r
        old_r, r = r, old_r - q * r
        old_s, s = s, old_s - q * s
    return old_s % m


SENTINEL = 1 << 30
# Typed (not literal) constants, so each kernel compiles once for additions and removals alike.
ADD, REMOVE, NO_HITS = np.int64(1), np.int64(-1), np.int64(0)

# Columns of the bisector tables, one row per displacement Q - P.
ON_LATTICE, ALONG_ROWS, U0, V0, U_STEP, V_STEP = 0, 1, 2, 3, 4, 5


@njit(cache=True)
def bisector_table(n):
    """Lattice points of the perpendicular bisector of P and Q depend only on Q - P = (dr, dc):
    relative to P they solve dr x + dc y = (dr^2 + dc^2) / 2. Row (dr + n - 1) * (2n - 1) +
    dc + n - 1 says whether any exist and how to walk them: u, the coordinate with the larger
    step, goes (u0 + t * u_step) and the other goes (v0 + t * v_step), |v_step| <= u_step."""
    side = 2 * n - 1
    table = np.zeros((side * side, 6), dtype=np.int32)
    for dr in range(1 - n, n):
        for dc in range(1 - n, n):
            if dr == 0 and dc == 0:
                continue
            row = table[(dr + n - 1) * side + dc + n - 1]
            g = _gcd(abs(dr), abs(dc))
            rhs = dr * dr + dc * dc
            if rhs % (2 * g) != 0:
                continue  # the bisector misses every lattice point
            rhs //= 2 * g
            a, b = dr // g, dc // g  # a x + b y = rhs with gcd(a, b) = 1
            row[ON_LATTICE] = 1
            if abs(b) >= abs(a):  # walk the rows x, the column y moves <= 1 per step
                x0 = (rhs % abs(b)) * _inverse_mod(a % abs(b), abs(b)) % abs(b)
                row[ALONG_ROWS], row[U0], row[V0] = 1, x0, (rhs - a * x0) // b
                row[U_STEP], row[V_STEP] = abs(b), -a * (1 if b > 0 else -1)
            else:
                y0 = (rhs % abs(a)) * _inverse_mod(b % abs(a), abs(a)) % abs(a)
                row[ALONG_ROWS], row[U0], row[V0] = 0, y0, (rhs - b * y0) // a
                row[U_STEP], row[V_STEP] = abs(a), -b * (1 if a > 0 else -1)
    return table


@njit(cache=True)
def geometry(n):
    """The lookup tables the kernels share: (circle start, dr, dc, bisector tables)."""
    start, dr_of, dc_of = circle_table(n)
    return start, dr_of, dc_of, bisector_table(n)


@njit(cache=True, inline="always")
def _bump(blocked, cell, delta, hits, n_hits):
    """Change one count; remember cells whose count drops to zero (they may become free)."""
    blocked[cell] += delta
    if delta < 0 and blocked[cell] == 0:
        hits[n_hits] = cell
        n_hits += 1
    return n_hits


@njit(cache=True, inline="always")
def _circle(blocked, n, cr, cc, d, start, dr_of, dc_of, delta, hits, n_hits):
    """Bump every grid cell at squared distance d from (cr, cc). Offsets that leave the grid
    bump the sentinel count blocked[n * n] instead: a select, not a mispredicted branch."""
    for k in range(start[d], start[d + 1]):
        r, c = cr + dr_of[k], cc + dc_of[k]
        inside = (r >= 0) & (r < n) & (c >= 0) & (c < n)
        n_hits = _bump(blocked, r * n + c if inside else n * n, delta, hits, n_hits)
    return n_hits


@njit(cache=True, inline="always")
def _bisector(blocked, n, r1, c1, r2, c2, bisectors, delta, hits, n_hits):
    """Bump every grid cell equidistant from (r1, c1) and (r2, c2)."""
    line = bisectors[(r2 - r1 + n - 1) * (2 * n - 1) + c2 - c1 + n - 1]
    if line[ON_LATTICE] == 0:
        return n_hits
    along_rows = line[ALONG_ROWS] == 1
    u1, v1 = (r1, c1) if along_rows else (c1, r1)
    u_step, v_step = line[U_STEP], line[V_STEP]
    # Back up to the first lattice point with u >= 0.
    u = u1 + line[U0]
    back = u // u_step
    u -= back * u_step
    v = v1 + line[V0] - back * v_step
    while u < n:
        if 0 <= v < n:
            n_hits = _bump(blocked, u * n + v if along_rows else v * n + u, delta, hits, n_hits)
        u += u_step
        v += v_step
    return n_hits


@njit(cache=True)
def _pair(blocked, n, r1, c1, r2, c2, tables, delta, hits, n_hits):
    """All reasons contributed by the pair {P1, P2}: its bisector and the two circles."""
    start, dr_of, dc_of, bisectors = tables
    d = (r1 - r2) * (r1 - r2) + (c1 - c2) * (c1 - c2)
    n_hits = _bisector(blocked, n, r1, c1, r2, c2, bisectors, delta, hits, n_hits)
    n_hits = _circle(blocked, n, r1, c1, d, start, dr_of, dc_of, delta, hits, n_hits)
    return _circle(blocked, n, r2, c2, d, start, dr_of, dc_of, delta, hits, n_hits)


# --- the search state ---------------------------------------------------------------------------
# member: (n*n,) uint8, 1 for the cells of S; blocked: (n*n + 1,) int32 counts (see the module
# docstring) and a sentinel that absorbs bumps outside the grid and never reaches zero; rows, cols: (n*n,) int64, the points of S in slots 0 .. size - 1, in no order.
# `hits` is a scratch array of n*n cells that removals append freed cells to.


@njit(cache=True)
def add_point(member, blocked, rows, cols, size, cell, n, tables, hits):
    """Put a cell into S (valid iff blocked[cell] == 0); returns the new size."""
    r, c = cell // n, cell % n
    for i in range(size):
        _pair(blocked, n, r, c, rows[i], cols[i], tables, ADD, hits, NO_HITS)
    member[cell] = 1
    rows[size], cols[size] = r, c
    return size + 1


@njit(cache=True)
def remove_point(member, blocked, rows, cols, size, slot, n, tables, hits, n_hits):
    """Take the point in `slot` out of S (the last point moves into the slot); cells whose
    count drops to zero are appended to hits[n_hits:]. Returns (new size, n_hits)."""
    r, c = rows[slot], cols[slot]
    member[r * n + c] = 0
    size -= 1
    rows[slot], cols[slot] = rows[size], cols[size]
    for i in range(size):
        n_hits = _pair(blocked, n, r, c, rows[i], cols[i], tables, REMOVE, hits, n_hits)
    return size, n_hits


@njit(cache=True)
def blocked_counts(member, rows, cols, size, n, tables):
    """The counts of a set from scratch (O(|S|^2) pairs), plus the sentinel count at the end."""
    blocked = np.zeros(member.shape[0] + 1, dtype=np.int32)
    blocked[-1] = SENTINEL
    hits = np.empty(0, dtype=np.int64)  # additions never write to it
    for i in range(size):
        for j in range(i):
            _pair(blocked, n, rows[i], cols[i], rows[j], cols[j], tables, ADD, hits, NO_HITS)
    return blocked


@njit(cache=True)
def free_cells(member, blocked, out):
    """Write the cells that can join S into out; returns how many."""
    count = 0
    for cell in range(member.shape[0]):
        if blocked[cell] == 0 and member[cell] == 0:
            out[count] = cell
            count += 1
    return count


@njit(cache=True)
def fill(member, blocked, rows, cols, size, candidates, n_candidates, n, tables, hits, state):
    """Random greedy: add a uniformly random free cell until none is left.

    Every free cell must be among candidates[:n_candidates] (consumed): a candidate found
    blocked or taken is dropped for good, which is safe because while points are only added
    counts never decrease. Returns (state, new size)."""
    while n_candidates > 0:
        state, k = randint(state, n_candidates)
        cell = candidates[k]
        n_candidates -= 1
        candidates[k] = candidates[n_candidates]
        if blocked[cell] == 0 and member[cell] == 0:
            size = add_point(member, blocked, rows, cols, size, cell, n, tables, hits)
    return state, size


# --- repair -----------------------------------------------------------------------------------


@njit(cache=True)
def conflicts(rows, cols, size, multiplicity):
    """Isosceles triangles through each point (as apex or base vertex), O(size^2).

    `multiplicity` is an all-zero scratch array indexed by squared distance (left zeroed).
    Apex P with m points at distance d: C(m, 2) triangles, each of the m in m - 1 of them.
    (No lattice triangle is equilateral, so each isosceles triangle has one apex.)"""
    counts = np.zeros(size, dtype=np.int64)
    dist = np.empty(size, dtype=np.int64)
    for p in range(size):
        for q in range(size):
            dr, dc = rows[p] - rows[q], cols[p] - cols[q]
            dist[q] = dr * dr + dc * dc
            if q != p:
                multiplicity[dist[q]] += 1
        pairs_at_apex = 0
        for q in range(size):
            if q != p:
                extra = multiplicity[dist[q]] - 1
                counts[q] += extra
                pairs_at_apex += extra
        counts[p] += pairs_at_apex // 2
        for q in range(size):
            multiplicity[dist[q]] = 0
    return counts


@njit(cache=True)
def _points(member, n):
    cells = np.flatnonzero(member)
    return cells // n, cells % n


@njit(cache=True)
def _drop_slots(rows, cols, size, drop):
    """Remove the flagged slots, keeping the others in order; returns the new size."""
    kept = 0
    for i in range(size):
        if not drop[i]:
            rows[kept], cols[kept] = rows[i], cols[i]
            kept += 1
    return kept


@njit(cache=True)
def repair(grid, state, thin_above):
    """Delete the point in most isosceles triangles (ties at random) until none is left.

    Exact one-at-a-time repair is O(|S|^3); a set larger than `thin_above` (garbage far
    above any valid size) first loses its worse half by conflicts, repeatedly, in O(|S|^2)."""
    n = grid.shape[0]
    member = grid.reshape(n * n)
    rows, cols = _points(member, n)
    size = rows.shape[0]
    multiplicity = np.zeros(2 * n * n + 1, dtype=np.int64)
    while size > 2:
        counts = conflicts(rows, cols, size, multiplicity)
        if size > thin_above:
            noise = np.empty(size, dtype=np.int64)
            for i in range(size):
                state, noise[i] = randint(state, 1 << 30)
            order = np.argsort(counts * (1 << 30) + noise)  # ties in random order
            drop = np.zeros(size, dtype=np.bool_)
            drop[order[size - size // 2:]] = True
            size = _drop_slots(rows, cols, size, drop)
            continue
        worst, ties, slot = 0, 0, -1
        for i in range(size):
            if counts[i] > worst:
                worst, ties, slot = counts[i], 1, i
            elif counts[i] == worst and worst > 0:
                ties += 1
                state, pick = randint(state, ties)
                if pick == 0:
                    slot = i
        if worst == 0:
            break
        size -= 1
        rows[slot], cols[slot] = rows[size], cols[size]
    member[:] = 0
    for i in range(size):
        member[rows[i] * n + cols[i]] = 1
    return state


@njit(cache=True, parallel=True)
def repair_batch(grids, seeds, thin_above):
    out = (grids != 0).astype(np.uint8)
    for i in prange(out.shape[0]):
        repair(out[i], seeds[i], thin_above)
    return out


# --- local search -----------------------------------------------------------------------------


@njit(cache=True)
def climb(member, blocked, rows, cols, size, iterations, kick, n, tables, state):
    """Iterated greedy on a maximal valid set: delete `kick` random points, refill greedily
    from the cells that freed up, keep the result unless it is smaller (sideways moves let it
    drift along plateaus). Updates the arrays in place; returns (state, size)."""
    trial_member, trial_blocked = member.copy(), blocked.copy()
    trial_rows, trial_cols = rows.copy(), cols.copy()
    hits = np.empty(member.shape[0], dtype=np.int64)
    for _ in range(iterations):
        trial_member[:] = member
        trial_blocked[:] = blocked
        trial_rows[:size] = rows[:size]
        trial_cols[:size] = cols[:size]
        trial_size, n_hits = size, NO_HITS
        for _ in range(min(kick, size)):
            state, slot = randint(state, trial_size)
            trial_size, n_hits = remove_point(trial_member, trial_blocked, trial_rows, trial_cols,
                                              trial_size, slot, n, tables, hits, n_hits)
        # The set was maximal, so only cells whose count just reached zero can be free.
        state, trial_size = fill(trial_member, trial_blocked, trial_rows, trial_cols, trial_size,
                                 hits, n_hits, n, tables, hits, state)
        if trial_size >= size:
            member[:] = trial_member
            blocked[:] = trial_blocked
            rows[:trial_size] = trial_rows[:trial_size]
            cols[:trial_size] = trial_cols[:trial_size]
            size = trial_size
    return state, size


@njit(cache=True)
def _triangle_excess(member, blocked, rows, cols, size, n, state):
    """(state, triangle incidences summed over S, a uniformly random point in a triangle or -1).
    A point of S has count size - 1 plus the isosceles triangles through it."""
    total, seen, slot = 0, 0, -1
    for i in range(size):
        excess = blocked[rows[i] * n + cols[i]] - (size - 1)
        if excess > 0:
            total += excess
            seen += 1
            state, pick = randint(state, seen)
            if pick == 0:
                slot = i
    return state, total, slot


@njit(cache=True)
def _least_blocked_cell(member, blocked, tabu_until, move, ties, state):
    """A uniformly random cell outside S, not tabu, in the fewest isosceles triangles with S."""
    best, count = np.iinfo(np.int32).max, 0
    for cell in range(member.shape[0]):
        if member[cell] or tabu_until[cell] > move:
            continue
        if blocked[cell] < best:
            best, count = blocked[cell], 0
        if blocked[cell] == best:
            ties[count] = cell
            count += 1
    if count == 0:
        return state, -1
    state, k = randint(state, count)
    return state, ties[k]


@njit(cache=True)
def min_conflicts(member, blocked, rows, cols, size, moves, tenure, n, tables, state):
    """Tabu min-conflicts search for a larger set, from a maximal valid one.

    When S is valid: fill it greedily, remember it if it is the largest so far, then add the
    cell in the fewest isosceles triangles with S. Otherwise move a random point that lies in
    a triangle to the cell in the fewest triangles with the rest; its old cell is tabu for
    `tenure` moves. Leaves the largest valid set seen in the arrays; returns (state, size)."""
    cells = member.shape[0]
    best_member = member.copy()
    best_size = size
    tabu_until = np.zeros(cells, dtype=np.int64)
    scratch = np.empty(cells, dtype=np.int64)
    hits = np.empty(cells, dtype=np.int64)
    for move in range(moves):
        state, excess, slot = _triangle_excess(member, blocked, rows, cols, size, n, state)
        if excess == 0:
            n_free = free_cells(member, blocked, scratch)
            state, size = fill(member, blocked, rows, cols, size, scratch, n_free, n, tables, hits, state)
            if size > best_size:
                best_member[:] = member
                best_size = size
        else:
            cell = rows[slot] * n + cols[slot]
            size, _ = remove_point(member, blocked, rows, cols, size, slot, n, tables, hits, NO_HITS)
            tabu_until[cell] = move + tenure + 1
        state, cell = _least_blocked_cell(member, blocked, tabu_until, move, scratch, state)
        if cell >= 0:
            size = add_point(member, blocked, rows, cols, size, cell, n, tables, hits)
    state, excess, _ = _triangle_excess(member, blocked, rows, cols, size, n, state)
    if excess == 0:  # the last move may have repaired the set
        n_free = free_cells(member, blocked, scratch)
        state, size = fill(member, blocked, rows, cols, size, scratch, n_free, n, tables, hits, state)
        if size > best_size:
            best_member[:] = member
            best_size = size
    member[:] = best_member
    return state, best_size


@njit(cache=True)
def local_search(grid, state, iterations, kick, moves, tenure, tables, thin_above):
    """Repair, fill greedily to a maximal set, `iterations` steps of iterated greedy, then
    `moves` steps of tabu min-conflicts search. Leaves the result in grid; returns state."""
    n = grid.shape[0]
    cells = n * n
    state = repair(grid, state, thin_above)
    member = grid.reshape(cells)
    rows = np.empty(cells, dtype=np.int64)
    cols = np.empty(cells, dtype=np.int64)
    found_rows, found_cols = _points(member, n)
    size = found_rows.shape[0]
    rows[:size] = found_rows
    cols[:size] = found_cols
    blocked = blocked_counts(member, rows, cols, size, n, tables)
    candidates = np.empty(cells, dtype=np.int64)
    n_candidates = free_cells(member, blocked, candidates)
    state, size = fill(member, blocked, rows, cols, size, candidates, n_candidates, n, tables, candidates, state)
    state, size = climb(member, blocked, rows, cols, size, iterations, kick, n, tables, state)
    if moves > 0:
        state, size = min_conflicts(member, blocked, rows, cols, size, moves, tenure, n, tables, state)
    return state


@njit(cache=True, parallel=True)
def local_search_batch(grids, seeds, iterations, kick, moves, tenure, thin_above):
    out = (grids != 0).astype(np.uint8)
    tables = geometry(grids.shape[1])
    for i in prange(out.shape[0]):
        local_search(out[i], seeds[i], iterations, kick, moves, tenure, tables, thin_above)
    return out


# --- bookkeeping ------------------------------------------------------------------------------


@njit(cache=True, parallel=True)
def point_count_batch(grids):
    counts = np.empty(grids.shape[0], dtype=np.int64)
    for i in prange(grids.shape[0]):
        counts[i] = np.count_nonzero(grids[i])
    return counts


@njit(cache=True)
def _mix(x):
    return splitmix64(np.uint64(x))[1]


@njit(cache=True)
def symmetric_key(grid):
    """Hash of the point set, minimised over the 8 symmetries of the square: each image is
    hashed as a sum of mixed cell indices, which ignores the order of the points."""
    n = grid.shape[0]
    best = np.uint64(0xFFFFFFFFFFFFFFFF)
    m = n - 1
    for t in range(8):
        total = np.uint64(0)
        for r in range(n):
            for c in range(n):
                if grid[r, c] == 0:
                    continue
                x, y = (r, c) if t < 4 else (c, r)  # transpose for the second four
                if t % 4 == 1:
                    x = m - x
                elif t % 4 == 2:
                    y = m - y
                elif t % 4 == 3:
                    x, y = m - x, m - y
                total += _mix(x * n + y + 1)
        key = _mix(total ^ np.uint64(n))
        best = min(best, key)
    return best


@njit(cache=True, parallel=True)
def symmetric_key_batch(grids):
    keys = np.empty(grids.shape[0], dtype=np.uint64)
    for i in prange(grids.shape[0]):
        keys[i] = symmetric_key(grids[i])
    return keys
