"""Generic kernels for graphs stored as bitset rows (n <= 64, one uint64 per vertex)."""
import numpy as np
from numba import njit, prange

from local_search.bits import ONE, lowest_bit_index, nth_set_bit, popcount, randint, splitmix64

MAX_VERTICES = 64


@njit(cache=True, inline="always")
def bit(i):
    return ONE << np.uint64(i)


@njit(cache=True, inline="always")
def all_vertices(n):
    """The row with bits 0 .. n-1 set."""
    return (bit(n - 1) << ONE) - ONE if n < MAX_VERTICES else ~np.uint64(0)


@njit(cache=True, inline="always")
def above(u):
    """Bits of the vertices v > u."""
    return ~((bit(u) << ONE) - ONE)


@njit(cache=True)
def random_pair(rows, state):
    """A uniformly random pair u < v among the set bits of symmetric bitset rows.

    Returns (state, u, v), with u = v = -1 when no bit is set.
    """
    n = rows.shape[0]
    total = 0
    for u in range(n):
        total += popcount(rows[u] & above(u))
    if total == 0:
        return state, -1, -1
    state, r = randint(state, total)
    for u in range(n):
        upper = rows[u] & above(u)
        c = popcount(upper)
        if r < c:
            return state, u, nth_set_bit(upper, r)
        r -= c
    return state, -1, -1  # unreachable


@njit(cache=True)
def remove_random_edges(adj, count, state):
    """Delete `count` uniformly random edges (fewer if the graph runs out)."""
    n = adj.shape[0]
    for _ in range(count):
        total = 0
        for u in range(n):
            total += popcount(adj[u])
        if total == 0:
            return state
        state, r = randint(state, total)  # each edge appears in two rows: still uniform
        for u in range(n):
            c = popcount(adj[u])
            if r < c:
                v = nth_set_bit(adj[u], r)
                adj[u] &= ~bit(v)
                adj[v] &= ~bit(u)
                break
            r -= c
    return state


@njit(cache=True)
def edge_count(adj):
    total = 0
    for u in range(adj.shape[0]):
        total += popcount(adj[u])
    return total // 2


@njit(cache=True, parallel=True)
def edge_count_batch(graphs):
    counts = np.empty(graphs.shape[0], dtype=np.int64)
    for i in prange(graphs.shape[0]):
        counts[i] = edge_count(graphs[i])
    return counts


@njit(cache=True, parallel=True)
def random_graph_batch(n, density, seeds):
    """Erdos-Renyi G(n, p) graphs, one per seed."""
    graphs = np.zeros((seeds.shape[0], n), dtype=np.uint64)
    threshold = np.int64(density * 2**31)
    for i in prange(seeds.shape[0]):
        state = seeds[i]
        for u in range(n):
            for v in range(u + 1, n):
                state, r = randint(state, 2**31)
                if r < threshold:
                    graphs[i, u] |= bit(v)
                    graphs[i, v] |= bit(u)
    return graphs


@njit(cache=True, inline="always")
def _mix(x):
    return splitmix64(x)[1]


@njit(cache=True)
def wl_hash(adj, iterations):
    """Weisfeiler-Lehman colour-refinement hash: isomorphic graphs always hash equal
    (neighbour colours are combined by a sum, which ignores vertex order); distinct
    graphs collide only when refinement cannot tell them apart, e.g. some regular graphs."""
    n = adj.shape[0]
    colours = np.empty(n, dtype=np.uint64)
    for v in range(n):
        colours[v] = _mix(np.uint64(popcount(adj[v])))
    fresh = np.empty(n, dtype=np.uint64)
    for _ in range(iterations):
        for v in range(n):
            total = colours[v] * np.uint64(0x100000001B3)
            rest = adj[v]
            while rest:
                w = lowest_bit_index(rest)
                rest &= rest - ONE
                total += _mix(colours[w])
            fresh[v] = _mix(total)
        colours[:] = fresh
    key = _mix(np.uint64(n))
    for v in range(n):
        key += _mix(colours[v] ^ np.uint64(0xA5A5A5A5A5A5A5A5))
    return _mix(key)


@njit(cache=True, parallel=True)
def wl_hash_batch(graphs, iterations):
    keys = np.empty(graphs.shape[0], dtype=np.uint64)
    for i in prange(graphs.shape[0]):
        keys[i] = wl_hash(graphs[i], iterations)
    return keys


def to_bitsets(edges, n):
    """Edge list -> bitset rows (plain numpy, for tests and conversions)."""
    adj = np.zeros(n, dtype=np.uint64)
    for u, v in edges:
        adj[u] |= np.uint64(1) << np.uint64(v)
        adj[v] |= np.uint64(1) << np.uint64(u)
    return adj


def to_edges(adj):
    """Bitset rows -> sorted edge list [(u, v), u < v]."""
    n = len(adj)
    return [(u, v) for u in range(n) for v in range(u + 1, n) if (int(adj[u]) >> v) & 1]
