"""triangle_free: the numba kernels against brute force, and the problem's contract."""
import importlib.util
import itertools
import os

import numba
import numpy as np
import pytest

from local_search import graphs, triangle
from patternboost import UserError, load_problem, object_seeds
from tests.conftest import assert_tokens_round_trip

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def random_batch(n, density, count, seed):
    return graphs.random_graph_batch(n, density, object_seeds(seed, count))


def garbage_batch(n, count, seed):
    """Starts of every kind: empty, complete, and random graphs of many densities."""
    complete = np.array([((1 << n) - 1) & ~(1 << u) for u in range(n)], dtype=np.uint64)
    parts = [np.zeros((1, n), dtype=np.uint64), complete[None]]
    parts += [random_batch(n, density, count, seed + i) for i, density in enumerate((0.1, 0.3, 0.5, 0.9))]
    return np.concatenate(parts)


def neighbour_sets(adj):
    return [{v for v in range(len(adj)) if (int(adj[u]) >> v) & 1} for u in range(len(adj))]


def brute_triangles_through(nbrs, u, v):
    return sum(1 for w in range(len(nbrs)) if w in nbrs[u] and w in nbrs[v])


def is_triangle_free(nbrs):
    return not any(b in nbrs[a] and c in nbrs[a] and c in nbrs[b]
                   for a, b, c in itertools.combinations(range(len(nbrs)), 3))


def assert_maximal_triangle_free(adj):
    """Plain Python: no triangle, and adding any missing edge would make one."""
    nbrs = neighbour_sets(adj)
    assert is_triangle_free(nbrs)
    for u, v in itertools.combinations(range(len(adj)), 2):
        if v not in nbrs[u]:
            assert nbrs[u] & nbrs[v], f"edge {u}-{v} could still be added"


def edge_set(adj):
    return set(graphs.to_edges(adj))


# --- kernels ------------------------------------------------------------------


@pytest.mark.parametrize("n,density", [(7, 0.6), (20, 0.4), (64, 0.2)])
def test_triangle_counts_match_brute_force(n, density):
    for adj in random_batch(n, density, 20, n):
        nbrs = neighbour_sets(adj)
        counts = triangle.triangles_per_edge(adj)
        expected = np.zeros((n, n), dtype=np.int64)
        for u, v in graphs.to_edges(adj):
            expected[u, v] = expected[v, u] = brute_triangles_through(nbrs, u, v)
        assert np.array_equal(counts, expected)


def test_allowed_pairs_and_add_edge_match_brute_force():
    # Greedy from triangle-free graphs: after every addition, `allowed` equals the brute-force set.
    n = 14
    rng = np.random.default_rng(0)
    for adj in triangle.repair_batch(random_batch(n, 0.3, 20, 1), object_seeds(2, 20)):
        adj = adj.copy()
        allowed = triangle.allowed_pairs(adj)
        while True:
            nbrs = neighbour_sets(adj)
            brute = {(u, v) for u, v in itertools.combinations(range(n), 2)
                     if v not in nbrs[u] and is_triangle_free(neighbour_sets(adj | add_bits(n, u, v)))}
            fast = {(u, v) for u, v in itertools.combinations(range(n), 2) if (int(allowed[u]) >> v) & 1}
            assert fast == brute
            assert all((int(allowed[v]) >> u) & 1 for u, v in fast)  # rows stay symmetric
            if not brute:
                break
            u, v = sorted(brute)[rng.integers(len(brute))]
            triangle.add_edge(adj, allowed, u, v)


def add_bits(n, u, v):
    extra = np.zeros(n, dtype=np.uint64)
    extra[u], extra[v] = np.uint64(1 << v), np.uint64(1 << u)
    return extra


def test_repair_deletes_the_edge_in_most_triangles():
    # A book: edge 0-1 lies on 6 triangles, every other edge on one; deleting 0-1 alone clears them all.
    pages = [(0, 1)] + [(0, w) for w in range(2, 8)] + [(1, w) for w in range(2, 8)] + [(8, 9)]
    book = graphs.to_bitsets(pages, 10)
    for seed in range(20):
        fixed = triangle.repair_batch(book[None], object_seeds(seed, 1))[0]
        assert edge_set(fixed) == set(pages) - {(0, 1)}


@pytest.mark.parametrize("n", [9, 20, 40])
def test_local_search_gives_maximal_triangle_free_supergraphs_of_repairs(n):
    start = garbage_batch(n, 8, n)
    seeds = object_seeds(3, len(start))
    repaired = triangle.repair_batch(start, seeds)
    for original, fixed in zip(start, repaired):
        assert is_triangle_free(neighbour_sets(fixed))
        assert edge_set(fixed) <= edge_set(original)
    for climb in (0, 10):
        result = triangle.local_search_batch(start, seeds, climb, 2)
        for fixed, adj in zip(repaired, result):
            assert_maximal_triangle_free(adj)
            if climb == 0:  # plain search only adds edges to the repaired graph
                assert edge_set(fixed) <= edge_set(adj)
        assert np.array_equal(graphs.edge_count_batch(result), [len(edge_set(a)) for a in result])


def test_climb_never_loses_edges():
    start = triangle.local_search_batch(np.zeros((50, 20), dtype=np.uint64), object_seeds(4, 50), 0, 1)
    climbed = triangle.local_search_batch(start, object_seeds(4, 50), 30, 2)
    assert np.all(graphs.edge_count_batch(climbed) >= graphs.edge_count_batch(start))
    assert np.any(graphs.edge_count_batch(climbed) > graphs.edge_count_batch(start))


def test_results_are_seeded_and_do_not_depend_on_thread_count():
    start = garbage_batch(25, 16, 5)
    seeds = object_seeds(6, len(start))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = triangle.local_search_batch(start, seeds, 5, 2)
        numba.set_num_threads(max(2, before))
        many = triangle.local_search_batch(start, seeds, 5, 2)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, many)
    assert not np.array_equal(one, triangle.local_search_batch(start, object_seeds(7, len(start)), 5, 2))


def test_brute_force_optima_at_tiny_sizes_and_local_search_finds_them():
    # Over ALL graphs on n = 3..6 vertices the most edges without a triangle is 2 4 6 9 (= n^2/4).
    for n, best in zip(range(3, 7), [2, 4, 6, 9]):
        pairs = list(itertools.combinations(range(n), 2))
        index = {p: i for i, p in enumerate(pairs)}
        triangle_masks = [(1 << index[a, b]) | (1 << index[a, c]) | (1 << index[b, c])
                          for a, b, c in itertools.combinations(range(n), 3)]
        most = max(mask.bit_count() for mask in range(1 << len(pairs))
                   if not any(mask & t == t for t in triangle_masks))
        assert most == best
        problem = load_problem("triangle_free", n=n)
        assert problem.known_best == best
        found = problem.local_search(problem.initial(300, n), n)
        assert problem.score(found).max() == best


def test_numpy_baseline_gives_maximal_triangle_free_graphs():
    path = os.path.join(ROOT, "benchmarks", "numpy_baselines", "triangle_free.py")
    spec = importlib.util.spec_from_file_location("triangle_free_baseline", path)
    baseline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(baseline)
    for climb in (0, 3):
        problem = load_problem("triangle_free", n=10, climb=climb)
        start = garbage_batch(10, 2, 11)
        out = baseline.local_search(problem, start, np.random.default_rng(0))
        for adj in out:
            assert_maximal_triangle_free(adj)


# --- the problem --------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["edges", "neighbours", "adjacency"])
def test_tokens_round_trip(encoding):
    problem = load_problem("triangle_free", n=12, encoding=encoding)
    batch = problem.local_search(garbage_batch(12, 10, 0), 1)
    assert_tokens_round_trip(problem, batch)


def test_complete_bipartite_fits_the_token_budget():
    n = 21
    problem = load_problem("triangle_free", n=n)
    best = graphs.to_bitsets([(u, v) for u in range(10) for v in range(10, n)], n)
    (sequence,) = problem.encode(best[None])
    assert len(sequence) == 110 == problem.known_best <= problem.max_length


def test_garbage_decodes_to_a_graph_and_is_flagged():
    problem = load_problem("triangle_free", n=10)
    garbage = [np.array([5, 3, 3]), np.array([], dtype=int), np.array([0, 1, 9]),
               np.random.default_rng(0).integers(0, problem.vocab_size, 200)]
    decoded, valid = problem.decode(garbage)
    assert list(valid) == [False, True, True, False]
    assert decoded.shape == (4, 10)
    assert edge_set(decoded[2]) == {(0, 1), (0, 2), (1, 2)}  # a triangle, decoded faithfully
    assert problem.score(decoded)[2] == 2  # and scored after repair
    for adj in problem.local_search(decoded, 0):
        assert_maximal_triangle_free(adj)
    for encoding in ("neighbours", "adjacency"):
        rows = load_problem("triangle_free", n=6, encoding=encoding)
        _, valid = rows.decode([np.array([2, 1, 0, 2]), np.array([rows.vocab_size - 1] * 4)])
        assert list(valid) == [False, encoding == "neighbours"]


def test_canonical_key_is_invariant_under_relabelling():
    problem = load_problem("triangle_free", n=15)
    batch = problem.local_search(garbage_batch(15, 5, 8), 0)
    rng = np.random.default_rng(0)
    for adj in batch:
        perm = rng.permutation(15)
        relabelled = graphs.to_bitsets([(perm[u], perm[v]) for u, v in graphs.to_edges(adj)], 15)
        assert problem.canonical_key(adj[None])[0] == problem.canonical_key(relabelled[None])[0]
    halves = [graphs.to_bitsets([(u, v) for u in range(a) for v in range(a, 15)], 15) for a in (7, 6)]
    assert len(set(problem.canonical_key(np.array(halves)).tolist())) == 2  # K(7,8) vs K(6,9)


def test_verify_is_independent_and_rejects_triangles():
    problem = load_problem("triangle_free", n=6)
    with pytest.raises(ValueError, match="vertices 0, 1, 2 form a triangle"):
        problem.verify(graphs.to_bitsets([(0, 1), (1, 2), (0, 2), (3, 4)], 6))
    found = problem.local_search(problem.initial(200, 0), 0)
    top = found[np.argmax(problem.score(found))]
    assert problem.verify(top) == 9 == problem.known_best
    assert problem.score(top[None])[0] == 9


def test_reporting(tmp_path):
    problem = load_problem("triangle_free", n=8)
    k44 = graphs.to_bitsets([(u, v) for u in range(4) for v in range(4, 8)], 8)
    native = problem.to_native(k44)
    assert len(native["edges"]) == 16 and native["n"] == 8 and native["graph6"]
    text = problem.render(k44)
    assert "graph6" in text and "bipartite, sides [0, 1, 2, 3] and [4, 5, 6, 7]" in text
    assert "not bipartite" in problem.render(graphs.to_bitsets([(0, 1), (1, 2), (2, 3), (3, 4), (4, 0)], 8))
    problem.draw(k44, tmp_path / "k44.png")
    assert (tmp_path / "k44.png").stat().st_size > 1000


def test_known_best_table_and_parameter_checks():
    for n, best in [(3, 2), (20, 100), (21, 110), (33, 272), (64, 1024)]:
        problem = load_problem("triangle_free", n=n)
        assert problem.known_best == best and problem.known_optimal
    default = load_problem("triangle_free")
    assert default.n == 20 and default.params.climb == 0  # the paper's plain search by default
    for bad, message in [({"n": 2}, "n must be between 3 and 64"), ({"n": 65}, "n must be between"),
                         ({"climb": -1}, "climb must be >= 0"), ({"kick": 0}, "kick >= 1"),
                         ({"encoding": "bits"}, "encoding must be one of")]:
        with pytest.raises(UserError, match=message):
            load_problem("triangle_free", **bad)
