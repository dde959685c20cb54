"""Triangle-free graph kernels on bitset rows (the layout of local_search/graphs.py).

A graph on n <= 64 vertices is a uint64 array `adj` of length n: bit v of adj[u] is
set iff u and v are adjacent. Both triangle tests are one AND: the edge (u, v) lies
on popcount(adj[u] & adj[v]) triangles, and adding the non-edge (u, v) closes a
triangle iff adj[u] & adj[v] != 0. Batch kernels run in parallel over graphs, each
graph seeded by its own entry of `seeds`.
"""
import numpy as np
from numba import njit, prange

from local_search.bits import ONE, ZERO, lowest_bit_index, popcount, randint
from local_search.graphs import above, all_vertices, bit, edge_count, random_pair, remove_random_edges


@njit(cache=True)
def triangles_per_edge(adj):
    """Matrix of triangle counts per edge (zero off the edges)."""
    n = adj.shape[0]
    counts = np.zeros((n, n), dtype=np.int64)
    for u in range(n):
        higher = adj[u] & above(u)
        while higher:
            v = lowest_bit_index(higher)
            higher &= higher - ONE
            counts[u, v] = counts[v, u] = popcount(adj[u] & adj[v])
    return counts


@njit(cache=True)
def repair(adj, state):
    """Delete the edge in most triangles (ties broken at random) until triangle-free."""
    n = adj.shape[0]
    while True:
        best, ties, bu, bv = 0, 0, -1, -1
        for u in range(n):
            higher = adj[u] & above(u)
            while higher:
                v = lowest_bit_index(higher)
                higher &= higher - ONE
                c = popcount(adj[u] & adj[v])  # cheaper to recount than to keep a count matrix
                if c > best:
                    best, ties, bu, bv = c, 1, u, v
                elif c == best and c > 0:
                    ties += 1
                    state, r = randint(state, ties)
                    if r == 0:
                        bu, bv = u, v
        if best == 0:
            return state
        adj[bu] &= ~bit(bv)
        adj[bv] &= ~bit(bu)


@njit(cache=True, parallel=True)
def repair_batch(graphs, seeds):
    out = graphs.copy()
    for i in prange(out.shape[0]):
        repair(out[i], seeds[i])
    return out


@njit(cache=True)
def allowed_pairs(adj):
    """Rows of the non-edges whose addition closes no triangle: pairs at distance >= 3 (valid for any graph)."""
    n = adj.shape[0]
    everything = all_vertices(n)
    allowed = np.empty(n, dtype=np.uint64)
    for u in range(n):
        second = ZERO  # vertices sharing a neighbour with u
        rest = adj[u]
        while rest:
            a = lowest_bit_index(rest)
            rest &= rest - ONE
            second |= adj[a]
        allowed[u] = everything & ~(adj[u] | second | bit(u))
    return allowed


@njit(cache=True, inline="always")
def _forbid_with_neighbours_of(allowed, adj, u, v):
    """After u ~ v, every neighbour w of v shares v with u: forbid the pairs (u, w)."""
    targets = adj[v] & allowed[u]
    allowed[u] &= ~targets
    while targets:
        w = lowest_bit_index(targets)
        targets &= targets - ONE
        allowed[w] &= ~bit(u)


@njit(cache=True)
def add_edge(adj, allowed, u, v):
    """Add the allowed edge (u, v) and forbid every pair that now has a common neighbour."""
    _forbid_with_neighbours_of(allowed, adj, u, v)
    _forbid_with_neighbours_of(allowed, adj, v, u)
    adj[u] |= bit(v)
    adj[v] |= bit(u)
    allowed[u] &= ~bit(v)
    allowed[v] &= ~bit(u)


@njit(cache=True)
def greedy_add(adj, state):
    """Add uniformly random allowed edges until none is left (adj must be triangle-free)."""
    allowed = allowed_pairs(adj)
    while True:
        state, u, v = random_pair(allowed, state)
        if u < 0:
            return state
        add_edge(adj, allowed, u, v)


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
    """Repair to triangle-free, fill greedily to a maximal graph, then `iterations` steps of iterated greedy."""
    out = graphs.copy()
    for i in prange(out.shape[0]):
        state = repair(out[i], seeds[i])
        state = greedy_add(out[i], state)
        climb(out[i], state, iterations, kick)
    return out
