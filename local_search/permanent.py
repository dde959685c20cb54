"""Kernels for n x n 0-1 matrices avoiding the pattern 312, scored by their permanent.

A matrix with n <= 16 is a uint64 array `rows` of length n: bit j of rows[i] is the entry
(i, j). The pattern 312 is three 1s at (i1, j3), (i2, j1), (i3, j2) with i1 < i2 < i3 and
j1 < j2 < j3. Adding a 1 never lowers the permanent, so the search lives on maximal
312-avoiding matrices; batch kernels run in parallel over matrices, each seeded by its own
entry of `seeds`.
"""
import numpy as np
from numba import njit, prange

from local_search.bits import ONE, ZERO, lowest_bit_index, nth_set_bit, popcount, randint, splitmix64

MAX_N = 16  # the permanent's dynamic programme keeps one slot per column set: 2**16 of them


@njit(cache=True, inline="always")
def bit(i):
    return ONE << np.uint64(i)


@njit(cache=True, inline="always")
def below(i):
    """Bits 0 .. i-1."""
    return bit(i) - ONE


@njit(cache=True, inline="always")
def highest_bit_index(x):
    """Index of the highest set bit of a non-zero word: smear it downwards, then count."""
    x |= x >> np.uint64(1)
    x |= x >> np.uint64(2)
    x |= x >> np.uint64(4)
    x |= x >> np.uint64(8)
    x |= x >> np.uint64(16)
    x |= x >> np.uint64(32)
    return popcount(x) - 1


@njit(cache=True)
def ones_count(rows):
    total = 0
    for r in range(rows.shape[0]):
        total += popcount(rows[r])
    return total


@njit(cache=True)
def transpose(rows):
    n = rows.shape[0]
    cols = np.zeros(n, dtype=np.uint64)
    for i in range(n):
        rest = rows[i]
        while rest:
            j = lowest_bit_index(rest)
            rest &= rest - ONE
            cols[j] |= bit(i)
    return cols


# --- the permanent -------------------------------------------------------------


def _binomials(top):
    table = np.zeros((top + 1, top + 1), dtype=np.int64)
    for a in range(top + 1):
        table[a, 0] = 1
        for b in range(1, a + 1):
            table[a, b] = table[a - 1, b - 1] + table[a - 1, b]
    return table


BINOMIALS = _binomials(MAX_N)


@njit(cache=True)
def workspace(n):
    """Scratch arrays for `permanent_in`: a slot per column set, two frontiers of (set, count)."""
    width = BINOMIALS[n, n // 2]  # the most column sets of one size
    slot = np.full(1 << n, -1, dtype=np.int64)
    return (slot, np.empty(width, dtype=np.uint64), np.empty(width, dtype=np.int64),
            np.empty(width, dtype=np.uint64), np.empty(width, dtype=np.int64))


@njit(cache=True)
def _frontier_bound(lines):
    """An upper bound on the work of `_matchings` for this line order: after i lines the
    frontier holds i-subsets of the columns those lines touch."""
    seen = ZERO
    cost = 0
    for i in range(lines.shape[0]):
        seen |= lines[i]
        cost += BINOMIALS[popcount(seen), i + 1] * popcount(lines[i])
    return cost


@njit(cache=True)
def _matchings(lines, work):
    """Perfect matchings of lines to columns, one line at a time: the frontier maps each set of
    columns used by the first i lines to the number of ways to match them (int64 is exact: at
    most n! <= 16! ways)."""
    slot, masks, counts, next_masks, next_counts = work
    masks[0] = ZERO
    counts[0] = 1
    size = 1
    for i in range(lines.shape[0]):
        grown = 0
        for t in range(size):
            free = lines[i] & ~masks[t]
            while free:
                low = free & (~free + ONE)
                free ^= low
                mask = masks[t] | low
                s = slot[mask]
                if s < 0:
                    slot[mask] = grown
                    next_masks[grown] = mask
                    next_counts[grown] = counts[t]
                    grown += 1
                else:
                    next_counts[s] += counts[t]
        for t in range(grown):
            slot[next_masks[t]] = -1
        masks, next_masks = next_masks, masks
        counts, next_counts = next_counts, counts
        size = grown
        if size == 0:
            return 0
    return counts[0]


@njit(cache=True)
def permanent_in(rows, work):
    """The permanent by dynamic programming over column sets, rows or columns first and from
    either end, whichever order bounds the frontier best. 312-avoiding matrices are sparse
    (fewer than 4n ones) and the frontier stays small: far faster than Ryser's 2^n terms."""
    cols = transpose(rows)
    orders = np.empty((4, rows.shape[0]), dtype=np.uint64)
    orders[0], orders[1], orders[2], orders[3] = rows, rows[::-1], cols, cols[::-1]
    best = 0
    for k in range(1, 4):
        if _frontier_bound(orders[k]) < _frontier_bound(orders[best]):
            best = k
    return _matchings(orders[best], work)


@njit(cache=True)
def permanent(rows):
    return permanent_in(rows, workspace(rows.shape[0]))


@njit(cache=True, parallel=True)
def permanent_batch(batch):
    out = np.empty(batch.shape[0], dtype=np.int64)
    for b in prange(batch.shape[0]):
        out[b] = permanent(batch[b])
    return out


# --- the pattern ---------------------------------------------------------------


@njit(cache=True)
def blocked_cells(rows):
    """Per row, the cells (r, s) that would complete a 312 with two 1s of the matrix.

    The cell can play each of the three roles:
      i1 (top, right):    1s (b, x), (c, y) with r < b < c and x < y < s
      i2 (middle, left):  1s (a, z), (c, y) with a < r < c and s < y < z
      i3 (bottom, middle): 1s (a, z), (b, x) with a < b < r and x < s < z
    A matrix avoids 312 iff none of its 1s is blocked.
    """
    n = rows.shape[0]
    full = below(n)
    up = np.zeros(n + 1, dtype=np.uint64)  # up[r]: union of rows < r
    down = np.zeros(n + 1, dtype=np.uint64)  # down[r]: union of rows >= r
    for r in range(n):
        up[r + 1] = up[r] | rows[r]
    for r in range(n - 1, -1, -1):
        down[r] = down[r + 1] | rows[r]
    blocked = np.zeros(n, dtype=np.uint64)
    # role i1: lowest right end y of an increasing pair below row r; cells right of it are blocked
    pair_end = n
    for r in range(n - 2, -1, -1):
        b = r + 1
        if rows[b]:
            x = lowest_bit_index(rows[b])
            later = down[b + 1] & ~below(x + 1)
            if later:
                pair_end = min(pair_end, lowest_bit_index(later))
        if pair_end < n:
            blocked[r] |= full & ~below(pair_end + 1)
    # role i3: open intervals (x, z) spanned by a 1 (b, x) below a 1 (a, z) with x < z
    spans = ZERO
    for r in range(n):
        blocked[r] |= spans
        if rows[r] and up[r]:
            x = lowest_bit_index(rows[r])
            z = highest_bit_index(up[r])
            if z > x + 1:
                spans |= below(z) & ~below(x + 1)
    # role i2: s < y for a 1 (c, y) below with y < z for a 1 (a, z) above
    for r in range(n):
        if up[r] and down[r + 1]:
            candidates = down[r + 1] & below(highest_bit_index(up[r]))
            if candidates:
                blocked[r] |= below(highest_bit_index(candidates))
    return blocked


@njit(cache=True)
def avoids(rows):
    blocked = blocked_cells(rows)
    for r in range(rows.shape[0]):
        if rows[r] & blocked[r]:
            return False
    return True


@njit(cache=True, parallel=True)
def avoids_batch(batch):
    out = np.empty(batch.shape[0], dtype=np.bool_)
    for b in prange(batch.shape[0]):
        out[b] = avoids(batch[b])
    return out


@njit(cache=True)
def occurrence_counts(rows):
    """(n, n) matrix: the number of 312 occurrences through each 1 (zero off the 1s).

    With P[r, y] = #1s in rows < r and columns < y, and Q[r, y] = #1s in rows < r and
    columns > y, a 1 at (a, z) as i1 meets sum_{(c, y) 1, c > a, y < z} (P[c, y] - P[a+1, y])
    occurrences; a 1 at (b, x) as i2 meets sum_{(c, y) 1, c > b, y > x} Q[b, y]; a 1 at
    (c, y) as i3 meets sum_{(b, x) 1, b < c, x < y} Q[b, y].
    """
    n = rows.shape[0]
    a = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        for j in range(n):
            a[i, j] = (rows[i] >> np.uint64(j)) & ONE
    p = np.zeros((n + 1, n + 1), dtype=np.int64)
    q = np.zeros((n + 1, n), dtype=np.int64)
    for r in range(n):
        for y in range(n):
            p[r + 1, y + 1] = p[r, y + 1] + p[r + 1, y] - p[r, y] + a[r, y]
        right = 0
        for y in range(n - 1, -1, -1):
            q[r + 1, y] = q[r, y] + right
            right += a[r, y]
    counts = np.zeros((n, n), dtype=np.int64)
    for r in range(n):
        for s in range(n):
            if a[r, s] == 0:
                continue
            total = 0
            for c in range(r + 1, n):
                for y in range(n):
                    if a[c, y]:
                        if y < s:
                            total += p[c, y] - p[r + 1, y]
                        elif y > s:
                            total += q[r, y]
            for b in range(r):
                for x in range(s):
                    if a[b, x]:
                        total += q[b, s]
            counts[r, s] = total
    return counts


@njit(cache=True)
def repair(rows, state):
    """Delete the 1 in most 312 occurrences (ties broken at random) until the matrix avoids 312."""
    n = rows.shape[0]
    while not avoids(rows):
        counts = occurrence_counts(rows)
        best, ties, br, bs = 0, 0, -1, -1
        for r in range(n):
            for s in range(n):
                c = counts[r, s]
                if c > best:
                    best, ties, br, bs = c, 1, r, s
                elif c == best and c > 0:
                    ties += 1
                    state, pick = randint(state, ties)
                    if pick == 0:
                        br, bs = r, s
        rows[br] &= ~bit(bs)
    return state


@njit(cache=True, parallel=True)
def repair_batch(batch, seeds):
    out = batch.copy()
    for b in prange(out.shape[0]):
        repair(out[b], seeds[b])
    return out


# --- search --------------------------------------------------------------------


@njit(cache=True)
def allowed_cells(rows, taboo):
    """Per row, the 0 cells where a 1 keeps the (312-avoiding) matrix avoiding, minus `taboo`."""
    n = rows.shape[0]
    blocked = blocked_cells(rows)
    allowed = np.empty(n, dtype=np.uint64)
    for r in range(n):
        allowed[r] = below(n) & ~rows[r] & ~blocked[r] & ~taboo[r]
    return allowed


@njit(cache=True)
def _random_cell(cells, state):
    """A uniformly random set cell of `cells` as (state, row, column), row -1 when there is none."""
    total = ones_count(cells)
    if total == 0:
        return state, -1, -1
    state, pick = randint(state, total)
    for r in range(cells.shape[0]):
        c = popcount(cells[r])
        if pick < c:
            return state, r, nth_set_bit(cells[r], pick)
        pick -= c
    return state, -1, -1


@njit(cache=True)
def greedy_add(rows, state, taboo):
    """Add 1s at uniformly random allowed cells (never in `taboo`) until none is left.
    Assumes the matrix avoids 312; the result avoids it and is maximal outside `taboo`."""
    while True:
        state, r, s = _random_cell(allowed_cells(rows, taboo), state)
        if r < 0:
            return state
        rows[r] |= bit(s)


@njit(cache=True)
def _remove_random_ones(rows, count, state, removed):
    removed[:] = ZERO
    for _ in range(count):
        state, r, s = _random_cell(rows, state)
        if r < 0:
            break
        rows[r] &= ~bit(s)
        removed[r] |= bit(s)
    return state


@njit(cache=True)
def matching_size(rows):
    """The most 1s with no two in a line (augmenting paths found breadth first)."""
    n = rows.shape[0]
    row_of = np.full(n, -1, dtype=np.int64)  # the row matched to each column
    col_of = np.full(n, -1, dtype=np.int64)  # the column matched to each row
    came_from = np.empty(n, dtype=np.int64)  # the row whose search reached each column
    queue = np.empty(n, dtype=np.int64)
    size = 0
    for start in range(n):
        seen = ZERO
        queue[0] = start
        head, tail, end = 0, 1, -1
        while head < tail and end < 0:
            r = queue[head]
            head += 1
            fresh = rows[r] & ~seen
            while fresh:
                c = lowest_bit_index(fresh)
                fresh &= fresh - ONE
                seen |= bit(c)
                came_from[c] = r
                if row_of[c] < 0:
                    end = c
                    break
                queue[tail] = row_of[c]
                tail += 1
        if end < 0:
            continue
        size += 1
        c = end
        while c >= 0:  # flip the path: each row on it takes the column its search reached
            r = came_from[c]
            previous = col_of[r]
            row_of[c] = r
            col_of[r] = c
            c = previous
    return size


@njit(cache=True)
def climb_value(rows, work):
    """The permanent, or for a matrix without a perfect matching (permanent 0) its matching
    size minus n, so that the climb can still make progress on the plateau of zeros."""
    value = permanent_in(rows, work)
    if value > 0:
        return value
    return np.int64(matching_size(rows) - rows.shape[0])


@njit(cache=True)
def climb(rows, state, iterations, kick):
    """Iterated greedy: delete `kick` random 1s, refill greedily first without the deleted
    cells (so that the step really moves) and then with them (so that the result is maximal);
    keep the result unless its value is lower (sideways moves drift along plateaus)."""
    n = rows.shape[0]
    work = workspace(n)
    trial = rows.copy()
    removed = np.zeros(n, dtype=np.uint64)
    nothing = np.zeros(n, dtype=np.uint64)
    value = climb_value(rows, work)
    for _ in range(iterations):
        trial[:] = rows
        state = _remove_random_ones(trial, kick, state, removed)
        state = greedy_add(trial, state, removed)
        state = greedy_add(trial, state, nothing)
        trial_value = climb_value(trial, work)
        if trial_value >= value:
            rows[:] = trial
            value = trial_value
    return state


@njit(cache=True)
def local_search(rows, state, iterations, kick):
    """Repair to 312-avoiding, fill greedily to a maximal matrix, then climb."""
    state = repair(rows, state)
    state = greedy_add(rows, state, np.zeros(rows.shape[0], dtype=np.uint64))
    return climb(rows, state, iterations, kick)


@njit(cache=True, parallel=True)
def local_search_batch(batch, seeds, iterations, kick):
    out = batch.copy()
    for b in prange(out.shape[0]):
        local_search(out[b], seeds[b], iterations, kick)
    return out


@njit(cache=True)
def random_avoiding_permutation(n, state):
    """A random 312-avoiding permutation matrix (row i holds its 1 in column p(i)). In one-line
    notation such a permutation is a 1 b with every value of a below every value of b, a and b
    312-avoiding: place the smallest value of a block of positions at a random position and
    split the block there (all Catalan-many of them can come out, not uniformly)."""
    rows = np.zeros(n, dtype=np.uint64)
    starts = np.empty(n, dtype=np.int64)  # pending blocks: positions [start, stop), values from low
    stops = np.empty(n, dtype=np.int64)
    lows = np.empty(n, dtype=np.int64)
    starts[0], stops[0], lows[0] = 0, n, 0
    pending = 1
    while pending:
        pending -= 1
        start, stop, low = starts[pending], stops[pending], lows[pending]
        state, offset = randint(state, stop - start)
        rows[start + offset] = bit(low)
        for block_start, block_stop, block_low in ((start, start + offset, low + 1),
                                                   (start + offset + 1, stop, low + 1 + offset)):
            if block_stop > block_start:
                starts[pending], stops[pending], lows[pending] = block_start, block_stop, block_low
                pending += 1
    return rows, state


@njit(cache=True, parallel=True)
def random_avoiding_permutation_batch(n, seeds):
    out = np.zeros((seeds.shape[0], n), dtype=np.uint64)
    for b in prange(seeds.shape[0]):
        out[b] = random_avoiding_permutation(n, seeds[b])[0]
    return out


# --- symmetry ------------------------------------------------------------------


@njit(cache=True)
def antitranspose(rows):
    """The reflection (i, j) -> (n-1-j, n-1-i), which maps 312 occurrences to 312 occurrences."""
    n = rows.shape[0]
    out = np.zeros(n, dtype=np.uint64)
    for i in range(n):
        rest = rows[i]
        while rest:
            j = lowest_bit_index(rest)
            rest &= rest - ONE
            out[n - 1 - j] |= bit(n - 1 - i)
    return out


@njit(cache=True)
def _hash_rows(rows):
    key = splitmix64(np.uint64(rows.shape[0]))[1]
    for r in range(rows.shape[0]):
        key = splitmix64(key ^ rows[r])[1]
    return key


@njit(cache=True, parallel=True)
def canonical_key_batch(batch):
    """A hash of each matrix or its anti-transpose, whichever is smaller: equal for the two."""
    keys = np.empty(batch.shape[0], dtype=np.uint64)
    for b in prange(batch.shape[0]):
        keys[b] = min(_hash_rows(batch[b]), _hash_rows(antitranspose(batch[b])))
    return keys


@njit(cache=True, parallel=True)
def random_batch(n, density, seeds):
    """Random matrices with each entry 1 independently with probability `density`."""
    out = np.zeros((seeds.shape[0], n), dtype=np.uint64)
    threshold = np.int64(density * 2**31)
    for b in prange(seeds.shape[0]):
        state = seeds[b]
        for i in range(n):
            for j in range(n):
                state, r = randint(state, 2**31)
                if r < threshold:
                    out[b, i] |= bit(j)
    return out
