"""C4-free graph kernels on bitset rows.

A graph on n <= 64 vertices is a uint64 array `adj` of length n: bit v of adj[u] is
set iff u and v are adjacent. A batch is a (B, n) array; batch kernels run in
parallel over graphs, each graph seeded by its own entry of `seeds`.
"""
import numpy as np
from numba import njit, prange

from local_search.bits import ONE, ZERO, lowest_bit_index, popcount, randint
from local_search.graphs import above, all_vertices, bit, edge_count, random_pair, remove_random_edges


@njit(cache=True)
def c4_through_edge(adj, u, v):
    """Number of 4-cycles u-v-b-a-u through the edge (u, v)."""
    count = 0
    others = adj[u] & ~bit(v)
    while others:
        a = lowest_bit_index(others)
        others &= others - ONE
        count += popcount(adj[a] & adj[v] & ~bit(u))
    return count


@njit(cache=True)
def c4_per_edge(adj):
    """Matrix of 4-cycle counts per edge (zero off the edges)."""
    n = adj.shape[0]
    counts = np.zeros((n, n), dtype=np.int64)
    for u in range(n):
        higher = adj[u] & above(u)
        while higher:
            v = lowest_bit_index(higher)
            higher &= higher - ONE
            c = c4_through_edge(adj, u, v)
            counts[u, v] = c
            counts[v, u] = c
    return counts


@njit(cache=True)
def would_create_c4(adj, u, v):
    """True iff adding the non-edge (u, v) closes a 4-cycle: a path u-a-b-v exists."""
    others = adj[u] & ~bit(v)
    while others:
        a = lowest_bit_index(others)
        others &= others - ONE
        if adj[a] & adj[v] & ~bit(u):
            return True
    return False


@njit(cache=True)
def allowed_pairs(adj):
    """Rows of the non-edges that can be added without closing a 4-cycle.

    Assumes adj is C4-free. A pair is forbidden iff a path of length 3 joins it.
    """
    n = adj.shape[0]
    everything = all_vertices(n)
    allowed = np.empty(n, dtype=np.uint64)
    for u in range(n):
        ends = ZERO  # endpoints of paths u-a-b-x
        first = adj[u]
        while first:
            a = lowest_bit_index(first)
            first &= first - ONE
            second = adj[a] & ~bit(u)
            while second:
                b = lowest_bit_index(second)
                second &= second - ONE
                ends |= adj[b] & ~bit(a)
        allowed[u] = everything & ~adj[u] & ~bit(u) & ~ends
    return allowed


@njit(cache=True, inline="always")
def _forbid(allowed, x, targets):
    targets &= allowed[x]
    allowed[x] &= ~targets
    while targets:
        b = lowest_bit_index(targets)
        targets &= targets - ONE
        allowed[b] &= ~bit(x)


@njit(cache=True)
def add_edge(adj, allowed, u, v):
    """Add the allowed edge (u, v) and forbid every pair that now closes a 4-cycle.

    New paths of length 3 use the new edge in the middle (a-u-v-b) or at an end
    (u-v-w-b and v-u-w-b); their endpoints become forbidden.
    """
    nu = adj[u] & ~bit(v)
    nv = adj[v] & ~bit(u)
    adj[u] |= bit(v)
    adj[v] |= bit(u)
    allowed[u] &= ~bit(v)
    allowed[v] &= ~bit(u)
    rest = nu
    while rest:
        a = lowest_bit_index(rest)
        rest &= rest - ONE
        _forbid(allowed, a, nv & ~bit(a))
    rest = nv
    while rest:
        w = lowest_bit_index(rest)
        rest &= rest - ONE
        _forbid(allowed, u, adj[w] & ~bit(v) & ~bit(u))
    rest = nu
    while rest:
        w = lowest_bit_index(rest)
        rest &= rest - ONE
        _forbid(allowed, v, adj[w] & ~bit(u) & ~bit(v))


@njit(cache=True)
def greedy_add(adj, state):
    """Add uniformly random allowed edges until none is left (adj must be C4-free)."""
    allowed = allowed_pairs(adj)
    while True:
        state, u, v = random_pair(allowed, state)
        if u < 0:
            return state
        add_edge(adj, allowed, u, v)


@njit(cache=True)
def repair(adj, state):
    """Delete the edge in most 4-cycles (ties broken at random) until C4-free."""
    n = adj.shape[0]
    counts = c4_per_edge(adj)
    while True:
        best, ties, bu, bv = 0, 0, -1, -1
        for u in range(n):
            higher = adj[u] & above(u)
            while higher:
                v = lowest_bit_index(higher)
                higher &= higher - ONE
                c = counts[u, v]
                if c > best:
                    best, ties, bu, bv = c, 1, u, v
                elif c == best and c > 0:
                    ties += 1
                    state, r = randint(state, ties)
                    if r == 0:
                        bu, bv = u, v
        if best == 0:
            return state
        # Each 4-cycle through (bu, bv) disappears: uncount its other three edges.
        others = adj[bu] & ~bit(bv)
        while others:
            a = lowest_bit_index(others)
            others &= others - ONE
            closing = adj[a] & adj[bv] & ~bit(bu)
            while closing:
                b = lowest_bit_index(closing)
                closing &= closing - ONE
                counts[bu, a] -= 1
                counts[a, bu] -= 1
                counts[a, b] -= 1
                counts[b, a] -= 1
                counts[b, bv] -= 1
                counts[bv, b] -= 1
        counts[bu, bv] = 0
        counts[bv, bu] = 0
        adj[bu] &= ~bit(bv)
        adj[bv] &= ~bit(bu)


@njit(cache=True, parallel=True)
def repair_batch(graphs, seeds):
    out = graphs.copy()
    for i in prange(out.shape[0]):
        repair(out[i], seeds[i])
    return out


@njit(cache=True)
def climb(adj, state, iterations, kick):
    """Iterated greedy: delete `kick` random edges, refill greedily, keep the result
    unless it has fewer edges (sideways moves let it drift along plateaus)."""
    trial = adj.copy()
    edges = edge_count(adj)
    for _ in range(iterations):
        trial[:] = adj
        state = remove_random_edges(trial, kick, state)
        state = greedy_add(trial, state)
        trial_edges = edge_count(trial)
        if trial_edges >= edges:
            adj[:] = trial
            edges = trial_edges
    return state


@njit(cache=True, parallel=True)
def local_search_batch(graphs, seeds, iterations, kick):
    """Repair to C4-free, fill greedily, then `iterations` steps of iterated greedy."""
    out = graphs.copy()
    for i in prange(out.shape[0]):
        state = repair(out[i], seeds[i])
        state = greedy_add(out[i], state)
        climb(out[i], state, iterations, kick)
    return out
