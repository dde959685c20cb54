"""The numba kernels against networkx and brute force on many random graphs."""
import itertools

import networkx as nx
import numba
import numpy as np
import pytest

from local_search import c4, graphs
from patternboost import object_seeds


def random_batch(n, density, count, seed):
    return graphs.random_graph_batch(n, density, object_seeds(seed, count))


def nx_graph(adj):
    g = nx.Graph()
    g.add_nodes_from(range(len(adj)))
    g.add_edges_from(graphs.to_edges(adj))
    return g


def brute_c4_per_edge(g, u, v):
    """4-cycles through edge (u, v) by enumerating vertex pairs (a, b)."""
    return sum(1 for a in g[u] for b in g[v] if len({u, v, a, b}) == 4 and g.has_edge(a, b))


def is_c4_free(g):
    return all(len(set(g[u]) & set(g[v])) <= 1 for u, v in itertools.combinations(g, 2))


@pytest.mark.parametrize("n,density", [(7, 0.5), (12, 0.3), (20, 0.2), (64, 0.08)])
def test_c4_counts_match_brute_force(n, density):
    for adj in random_batch(n, density, 30, n):
        g = nx_graph(adj)
        counts = c4.c4_per_edge(adj)
        for u, v in g.edges:
            assert counts[u, v] == counts[v, u] == brute_c4_per_edge(g, u, v)
        assert counts.sum() // 2 == sum(brute_c4_per_edge(g, u, v) for u, v in g.edges)


def test_allowed_pairs_and_add_edge_match_brute_force():
    # Greedy from C4-free graphs: after every addition, `allowed` equals the brute-force set.
    for adj in c4.repair_batch(random_batch(14, 0.3, 20, 1), object_seeds(2, 20)):
        adj = adj.copy()
        allowed = c4.allowed_pairs(adj)
        rng = np.random.default_rng(0)
        while True:
            g = nx_graph(adj)
            brute = {(u, v) for u, v in itertools.combinations(range(14), 2)
                     if not g.has_edge(u, v) and is_c4_free(nx.Graph(list(g.edges) + [(u, v)]))}
            fast = {(u, v) for u, v in itertools.combinations(range(14), 2) if (int(allowed[u]) >> v) & 1}
            assert fast == brute
            assert all(c4.would_create_c4(adj, u, v) == ((u, v) not in brute)
                       for u, v in itertools.combinations(range(14), 2) if not g.has_edge(u, v))
            if not brute:
                break
            u, v = sorted(brute)[rng.integers(len(brute))]
            c4.add_edge(adj, allowed, u, v)


@pytest.mark.parametrize("n", [9, 16, 33])
def test_local_search_gives_maximal_c4_free_supergraphs_of_repairs(n):
    start = random_batch(n, 0.4, 40, n)
    seeds = object_seeds(3, 40)
    repaired = c4.repair_batch(start, seeds)
    for original, fixed in zip(start, repaired):
        assert is_c4_free(nx_graph(fixed))
        assert set(graphs.to_edges(fixed)) <= set(graphs.to_edges(original))
    for climb in (0, 20):
        result = c4.local_search_batch(start, seeds, climb, 2)
        for adj in result:
            g = nx_graph(adj)
            assert is_c4_free(g)
            for u, v in nx.non_edges(g):  # maximal: every missing edge closes a 4-cycle
                assert not is_c4_free(nx.Graph(list(g.edges) + [(u, v)]))
        assert np.array_equal(graphs.edge_count_batch(result), [nx_graph(a).number_of_edges() for a in result])


def test_climb_never_loses_edges():
    start = c4.local_search_batch(np.zeros((50, 20), dtype=np.uint64), object_seeds(4, 50), 0, 1)
    climbed = c4.local_search_batch(start, object_seeds(4, 50), 50, 2)
    assert np.all(graphs.edge_count_batch(climbed) >= graphs.edge_count_batch(start))


def test_results_do_not_depend_on_thread_count():
    start = random_batch(30, 0.3, 64, 5)
    seeds = object_seeds(6, 64)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = c4.local_search_batch(start, seeds, 10, 2)
        numba.set_num_threads(max(2, before))
        many = c4.local_search_batch(start, seeds, 10, 2)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, many)
    assert not np.array_equal(one, c4.local_search_batch(start, object_seeds(7, 64), 10, 2))


def test_random_greedy_reaches_known_small_optima():
    # ex(n; C4) for n = 5..10 is 6 7 9 11 13 16; plain random greedy finds them among many tries.
    for n, best in zip(range(5, 11), [6, 7, 9, 11, 13, 16]):
        result = c4.local_search_batch(np.zeros((2000, n), dtype=np.uint64), object_seeds(n, 2000), 0, 1)
        assert graphs.edge_count_batch(result).max() == best


def test_wl_hash_is_invariant_under_relabelling():
    for adj in random_batch(15, 0.3, 20, 8):
        g = nx_graph(adj)
        perm = np.random.default_rng(0).permutation(15)
        relabelled = graphs.to_bitsets([(perm[u], perm[v]) for u, v in g.edges], 15)
        assert graphs.wl_hash(adj, 3) == graphs.wl_hash(relabelled, 3)
    keys = graphs.wl_hash_batch(random_batch(15, 0.3, 200, 9), 3)
    assert len(set(keys.tolist())) > 190  # distinct random graphs almost never collide



def test_the_rng_takes_a_state_typed_int64():
    """numba hands a uint64 state back to Python as an int, typed int64 on the next call when below 2**63."""
    from local_search.bits import randint

    for state in (5, 2**62 + 12345):
        assert randint(state, 10**9) == randint(np.uint64(state), 10**9)
