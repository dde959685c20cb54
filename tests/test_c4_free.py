import numpy as np
import pytest

from patternboost import UserError, load_problem
from tests.conftest import assert_tokens_round_trip


@pytest.mark.parametrize("encoding", ["edges", "neighbours", "adjacency"])
def test_tokens_round_trip(encoding):
    problem = load_problem("c4_free", n=12, encoding=encoding)
    batch = problem.local_search(problem.initial(50, 0), 1)
    assert_tokens_round_trip(problem, batch)


def test_garbage_decodes_to_a_graph_and_is_flagged():
    problem = load_problem("c4_free", n=10)
    decoded, valid = problem.decode([np.array([5, 3, 3]), np.array([], dtype=int), np.array([0, 1, 2])])
    assert list(valid) == [False, True, True]
    assert decoded.shape == (3, 10)
    repaired = problem.local_search(decoded, 0)
    assert problem.score(repaired).max() <= 16
    adjacency = load_problem("c4_free", n=10, encoding="adjacency")
    _, valid = adjacency.decode([np.array([1, 0, 2, 1])])
    assert not valid[0]
    neighbours = load_problem("c4_free", n=5, encoding="neighbours")
    graph, valid = neighbours.decode([np.array([3, 1, 5, 0, 5, 5, 4]), np.array([1, 5, 5, 5])])
    assert list(valid) == [False, True]
    assert graph[0, 0] == (1 << 1) | (1 << 3) and graph[0, 3] == (1 << 0) | (1 << 4)
    # A vertex below u in u's row names the edge between them (what an edit may write); u itself is a loop.
    graph, valid = neighbours.decode([np.array([2, 5, 0, 5, 5]), np.array([5, 1, 5, 5])])
    assert list(valid) == [True, False]
    assert graph[0, 0] == (1 << 1) | (1 << 2) and graph[0, 1] == 1 and not graph[1].any()


def test_neighbours_decode_of_a_batch_is_each_sequence_alone():
    """The neighbours decoder works on the whole batch at once: no sequence may leak into the next."""
    problem = load_problem("c4_free", n=9, encoding="neighbours")
    rng = np.random.default_rng(0)
    sequences = [s.copy() for s in problem.encode(problem.local_search(problem.initial(40, 0), 1))]
    for i, s in enumerate(sequences):
        s[rng.integers(len(s), size=i % 3)] = rng.integers(problem.vocab_size, size=i % 3)
    sequences += [rng.integers(0, problem.vocab_size, k) for k in (0, 1, 7, 30)]
    graphs, valid = problem.decode(sequences)
    alone = [problem.decode([s]) for s in sequences]
    assert (graphs == np.concatenate([g for g, _ in alone])).all()
    assert list(valid) == [bool(v[0]) for _, v in alone]
    assert 0 < valid.sum() < len(valid)


def test_verify_is_independent_and_rejects_c4():
    problem = load_problem("c4_free", n=6)
    square = np.zeros(6, dtype=np.uint64)
    for u, v in [(0, 1), (1, 2), (2, 3), (3, 0)]:
        square[u] |= np.uint64(1 << v)
        square[v] |= np.uint64(1 << u)
    with pytest.raises(ValueError, match="4-cycle"):
        problem.verify(square)
    best = problem.local_search(problem.initial(200, 0), 0)
    top = best[np.argmax(problem.score(best))]
    assert problem.verify(top) == 7 == problem.known_best
    native = problem.to_native(top)
    assert len(native["edges"]) == 7 and native["graph6"]
    assert "graph6" in problem.render(top)


def test_known_best_table_and_parameter_checks():
    assert load_problem("c4_free", n=33).known_best == 96
    assert load_problem("c4_free", n=33).known_optimal
    assert not load_problem("c4_free", n=45).known_optimal
    with pytest.raises(UserError, match="n must be between"):
        load_problem("c4_free", n=65)
    with pytest.raises(UserError, match="unknown parameter"):
        load_problem("c4_free", m=3)
    with pytest.raises(UserError, match="expected int"):
        load_problem("c4_free", n="many")


def test_relabel_gives_an_isomorphic_graph_by_decreasing_degree():
    import networkx as nx
    problem = load_problem("c4_free", n=12, relabel=True)
    batch = problem.local_search(problem.initial(30, 0), 0)
    decoded, valid = problem.decode(problem.encode(batch))
    assert valid.all()
    for original, relabelled in zip(batch, decoded):
        assert nx.is_isomorphic(problem.to_graph(original), problem.to_graph(relabelled))
        degrees = [int(row).bit_count() for row in relabelled]
        assert degrees == sorted(degrees, reverse=True)


# Found here by search alone (default climb, seed 0, one core, 43 s; README): as many edges as the best known
# C4-free graph on 44 vertices. graph6, checked with networkx alone.
GRAPH_44_148 = ("k?OAAGO?@Wc?U??O?_oBg_?c?OA@?GCH@_CA_?OG??P?G?h@A?_c@??a_?E@?A????QocoACCTA????H@?O_a_??A?CwC?G???]@"
                "aPG@??A??A?oA@P?O?pD?I_?C?@K?CGCC?OI__E?K?_`?O?_@_OeC_?Aa??")


def test_the_stored_44_vertex_graph_is_c4_free_with_the_best_known_edge_count():
    import networkx as nx

    graph = nx.from_graph6_bytes(GRAPH_44_148.encode())
    assert graph.number_of_nodes() == 44 and graph.number_of_edges() == 148
    # a 4-cycle is two vertices with two common neighbours
    assert all(len(set(graph[u]) & set(graph[v])) <= 1 for u in graph for v in graph if u < v)
    assert load_problem("c4_free", n=44).known_best == 148
