"""Kernels for spanning subgraphs of the d-cube Q_d that keep diameter d (Graham-Harary).

An object is a uint8 array `mask` over the E = d * 2^(d-1) cube edges (1 = kept). Edge
e = i * 2^(d-1) + r joins v and v ^ (1 << i), where v is r with a 0 inserted at bit i
(`lower_endpoint`). For the distance checks the kernels keep, per dimension i, a vertex
bitset `dims[i]` (W = max(1, 2^d / 64) uint64 words) of the vertices whose i-edge is kept;
a BFS step from a vertex set S is then the union over i of flip_i(S & dims[i]), a few shifts
per word, so one BFS from every vertex costs O(2^d * d * d * W) word operations.

The property checked everywhere: every vertex reaches every other within d steps
(diameter <= d; it cannot be smaller than d, antipodes are d apart in Q_d already).
"""
import numpy as np
from numba import njit, prange

from local_search.bits import ONE, ZERO, randint, splitmix64

# FLIP_MASKS[i]: the bit positions p < 64 with bit i of p clear, for flipping dimension i < 6 inside a word.
FLIP_MASKS = np.array([sum(1 << p for p in range(64) if not (p >> i) & 1) for i in range(6)], dtype=np.uint64)


@njit(cache=True)
def n_words(d):
    return max(1, (1 << d) >> 6)


@njit(cache=True)
def lower_endpoint(d, e):
    """(lower endpoint v, dimension i) of edge e; the other endpoint is v | (1 << i)."""
    half = 1 << (d - 1)
    i = e // half
    r = e % half
    low = (1 << i) - 1
    return ((r & ~low) << 1) | (r & low), i


@njit(cache=True)
def edge_index(d, v, i):
    """Index of the edge of dimension i at vertex v (either endpoint)."""
    low = (1 << i) - 1
    return i * (1 << (d - 1)) + ((v >> (i + 1)) << i) + (v & low)


@njit(cache=True)
def _set_vertex(words, v):
    words[v >> 6] |= ONE << np.uint64(v & 63)


@njit(cache=True)
def _clear_vertex(words, v):
    words[v >> 6] &= ~(ONE << np.uint64(v & 63))


@njit(cache=True)
def set_edge(mask, dims, d, e, present):
    v, i = lower_endpoint(d, e)
    mask[e] = 1 if present else 0
    if present:
        _set_vertex(dims[i], v)
        _set_vertex(dims[i], v | (1 << i))
    else:
        _clear_vertex(dims[i], v)
        _clear_vertex(dims[i], v | (1 << i))


@njit(cache=True)
def vertex_sets(mask, d):
    """(d, W) bitsets: dims[i] holds the vertices whose dimension-i edge is kept."""
    dims = np.zeros((d, n_words(d)), dtype=np.uint64)
    for e in range(mask.shape[0]):
        if mask[e]:
            v, i = lower_endpoint(d, e)
            _set_vertex(dims[i], v)
            _set_vertex(dims[i], v | (1 << i))
    return dims


@njit(cache=True)
def _full_words(d):
    full = np.full(n_words(d), ~ZERO, dtype=np.uint64)
    if d < 6:
        full[0] = (ONE << np.uint64(1 << d)) - ONE
    return full


@njit(cache=True)
def reaches_all(dims, d, s, full, scratch):
    """True iff BFS from s in the kept edges reaches every vertex within d steps."""
    words = full.shape[0]
    ball, frontier, fresh = scratch[0], scratch[1], scratch[2]
    for w in range(words):
        ball[w] = ZERO
        frontier[w] = ZERO
    _set_vertex(ball, s)
    _set_vertex(frontier, s)
    for _ in range(d):
        for w in range(words):
            fresh[w] = ZERO
        for i in range(d):
            if i < 6:
                shift = np.uint64(1 << i)
                keep = FLIP_MASKS[i]
                for w in range(words):
                    x = frontier[w] & dims[i, w]
                    fresh[w] |= ((x & keep) << shift) | ((x >> shift) & keep)
            else:
                step = 1 << (i - 6)
                for w in range(words):
                    fresh[w] |= frontier[w ^ step] & dims[i, w ^ step]
        done = True
        for w in range(words):
            frontier[w] = fresh[w] & ~ball[w]
            ball[w] |= fresh[w]
            if ball[w] != full[w]:
                done = False
        if done:
            return True
    return False


@njit(cache=True)
def failing_source(dims, d, first, second, full, scratch):
    """A vertex that some vertex is more than d steps from, or -1 if the diameter is <= d.
    `first` and `second` are tried before the rest: the likeliest culprits make rejections cheap."""
    if not reaches_all(dims, d, first, full, scratch):
        return first
    if second != first and not reaches_all(dims, d, second, full, scratch):
        return second
    for s in range(1 << d):
        if s != first and s != second and not reaches_all(dims, d, s, full, scratch):
            return s
    return -1


@njit(cache=True)
def diameter_ok(mask, d):
    dims = vertex_sets(mask, d)
    scratch = np.empty((3, n_words(d)), dtype=np.uint64)
    return failing_source(dims, d, 0, 0, _full_words(d), scratch) < 0


@njit(cache=True)
def _shuffled_edges(mask, want, state):
    """(edges, count, state): the `count` edges with mask == want, in uniformly random order (Fisher-Yates)."""
    chosen = np.empty(mask.shape[0], dtype=np.int64)
    count = 0
    for e in range(mask.shape[0]):
        if mask[e] == want:
            chosen[count] = e
            count += 1
    for k in range(count - 1, 0, -1):
        state, j = randint(state, k + 1)
        swap = chosen[k]
        chosen[k] = chosen[j]
        chosen[j] = swap
    return chosen, count, state


@njit(cache=True)
def repair(mask, dims, d, state, full, scratch):
    """Add missing cube edges in random order until the diameter is d (Q_d itself has it)."""
    bad = failing_source(dims, d, 0, 0, full, scratch)
    if bad < 0:
        return state
    missing, count, state = _shuffled_edges(mask, 0, state)
    for k in range(count):
        e = missing[k]
        set_edge(mask, dims, d, e, True)
        bad = failing_source(dims, d, bad, bad, full, scratch)
        if bad < 0:
            break
    return state


@njit(cache=True)
def greedy_delete(mask, dims, d, state, full, scratch):
    """Try every kept edge once, in random order; delete it when the diameter stays d.
    The result is minimal: no single edge can go (deleting edges never shortens distances)."""
    kept, count, state = _shuffled_edges(mask, 1, state)
    for k in range(count):
        e = kept[k]
        set_edge(mask, dims, d, e, False)
        v, i = lower_endpoint(d, e)
        if failing_source(dims, d, v, v | (1 << i), full, scratch) >= 0:
            set_edge(mask, dims, d, e, True)
    return state


@njit(cache=True)
def edge_count(mask):
    total = 0
    for e in range(mask.shape[0]):
        total += mask[e]
    return total


@njit(cache=True)
def _add_random_missing(mask, dims, d, count, state):
    for _ in range(count):
        missing = mask.shape[0] - edge_count(mask)
        if missing == 0:
            return state
        state, r = randint(state, missing)
        for e in range(mask.shape[0]):
            if mask[e] == 0:
                if r == 0:
                    set_edge(mask, dims, d, e, True)
                    break
                r -= 1
    return state


@njit(cache=True)
def _open_vertex(mask, dims, d, state):
    """Put back every missing edge at one random vertex."""
    state, v = randint(state, 1 << d)
    for i in range(d):
        e = edge_index(d, v, i)
        if mask[e] == 0:
            set_edge(mask, dims, d, e, True)
    return state


@njit(cache=True)
def _kick(mask, dims, d, kick, open_vertex, state):
    """With probability `open_vertex` open a random vertex, else put back 1..kick random missing
    edges. Measured: half and half is best at d = 6; opening vertices only reaches deeper at d = 7."""
    state, coin = randint(state, 1 << 20)
    if coin < open_vertex * (1 << 20):
        return _open_vertex(mask, dims, d, state)
    state, extra = randint(state, kick)
    return _add_random_missing(mask, dims, d, extra + 1, state)


@njit(cache=True)
def _copy_into(mask, dims, source_mask, source_dims):
    for e in range(mask.shape[0]):
        mask[e] = source_mask[e]
    for i in range(dims.shape[0]):
        for w in range(dims.shape[1]):
            dims[i, w] = source_dims[i, w]


@njit(cache=True)
def climb(mask, dims, d, state, iterations, kick, open_vertex, full, scratch):
    """Iterated greedy: kick (put back a few missing edges), delete greedily again, keep the
    result unless it has more edges (sideways moves let it drift along plateaus)."""
    trial = mask.copy()
    trial_dims = dims.copy()
    edges = edge_count(mask)
    for _ in range(iterations):
        _copy_into(trial, trial_dims, mask, dims)
        state = _kick(trial, trial_dims, d, kick, open_vertex, state)
        state = greedy_delete(trial, trial_dims, d, state, full, scratch)
        trial_edges = edge_count(trial)
        if trial_edges <= edges:
            _copy_into(mask, dims, trial, trial_dims)
            edges = trial_edges
    return state


@njit(cache=True)
def local_search(mask, d, seed, iterations, kick, open_vertex):
    """Repair, greedy deletion to a minimal subgraph, then `iterations` iterated-greedy steps."""
    dims = vertex_sets(mask, d)
    full = _full_words(d)
    scratch = np.empty((3, n_words(d)), dtype=np.uint64)
    state = repair(mask, dims, d, seed, full, scratch)
    state = greedy_delete(mask, dims, d, state, full, scratch)
    climb(mask, dims, d, state, iterations, kick, open_vertex, full, scratch)


@njit(cache=True, parallel=True)
def local_search_batch(masks, d, seeds, iterations, kick, open_vertex):
    out = masks.copy()
    for b in prange(out.shape[0]):
        local_search(out[b], d, seeds[b], iterations, kick, open_vertex)
    return out


@njit(cache=True, parallel=True)
def repair_batch(masks, d, seeds):
    out = masks.copy()
    for b in prange(out.shape[0]):
        dims = vertex_sets(out[b], d)
        scratch = np.empty((3, n_words(d)), dtype=np.uint64)
        repair(out[b], dims, d, seeds[b], _full_words(d), scratch)
    return out


# --- canonical key ------------------------------------------------------------


@njit(cache=True)
def _mix(x):
    return splitmix64(x)[1]


@njit(cache=True)
def canonical_key(mask, d, iterations):
    """Colour refinement on vertices and on the d edge directions together: a vertex colour
    sums its neighbours' colours tagged with their direction's colour; a direction colour sums
    the colours of its kept edges. Coordinate permutations and flips map vertices to vertices and
    directions to directions, so they never change the key (isomorphic => equal keys)."""
    n = 1 << d
    colour = np.empty(n, dtype=np.uint64)
    fresh = np.empty(n, dtype=np.uint64)
    direction = np.empty(d, dtype=np.uint64)
    for v in range(n):
        degree = 0
        for i in range(d):
            degree += mask[edge_index(d, v, i)]
        colour[v] = _mix(np.uint64(degree))
    for i in range(d):
        direction[i] = _mix(np.uint64(0xD1CE))
    for _ in range(iterations):
        for i in range(d):
            total = direction[i] * np.uint64(0x100000001B3)
            for v in range(n):
                if not (v >> i) & 1 and mask[edge_index(d, v, i)]:
                    total += _mix(colour[v] + colour[v | (1 << i)])
            direction[i] = _mix(total)
        for v in range(n):
            total = colour[v] * np.uint64(0x100000001B3)
            for i in range(d):
                if mask[edge_index(d, v, i)]:
                    total += _mix(colour[v ^ (1 << i)] * np.uint64(0x9E3779B97F4A7C15) + direction[i])
            fresh[v] = _mix(total)
        for v in range(n):
            colour[v] = fresh[v]
    key = _mix(np.uint64(d))
    for v in range(n):
        key += _mix(colour[v] ^ np.uint64(0xA5A5A5A5A5A5A5A5))
    for i in range(d):
        key += _mix(direction[i] ^ np.uint64(0x5A5A5A5A5A5A5A5A))
    return _mix(key)


@njit(cache=True, parallel=True)
def canonical_key_batch(masks, d, iterations):
    keys = np.empty(masks.shape[0], dtype=np.uint64)
    for b in prange(masks.shape[0]):
        keys[b] = canonical_key(masks[b], d, iterations)
    return keys
