"""hypercube_gh: the numba kernels against a plain-Python BFS oracle, brute force at tiny d, the problem contract."""
import collections
import itertools

import numba
import numpy as np
import pytest

from local_search import hypercube
from patternboost import UserError, load_problem, object_seeds
from patternboost.problem import probe
from problems.hypercube_gh import conjectured_edges
from tests.conftest import assert_tokens_round_trip

# Found by this module's local search alone, checked by networkx (verify): 81 edges in Q_6 (PatternBoost's
# count, one below the conjecture) and 157 edges in Q_7 (the conjecture says 161). np.packbits of the masks.
RECORD_6 = "0ac875b97d985bc1c28f950b00960135e08841c9b3138b81"
RECORD_7 = ("645a4c5e3111808c4900960424004900a800cdd7f0140092448150d0be9a18168a020250ee242d0809515c77afc3028"
            "10b0a64780276605d")


def cube_edges(d):
    return [(v, v | 1 << i) for i in range(d) for v in range(2**d) if not v >> i & 1]


def diameter_at_most_d(mask, d):
    """Oracle: plain BFS from every vertex; True iff every vertex reaches all others within d steps."""
    n = 2**d
    neighbours = [[] for _ in range(n)]
    for keep, (u, v) in zip(mask, cube_edges(d)):
        if keep:
            neighbours[u].append(v)
            neighbours[v].append(u)
    for source in range(n):
        dist = {source: 0}
        queue = collections.deque([source])
        while queue:
            x = queue.popleft()
            for y in neighbours[x]:
                if y not in dist:
                    dist[y] = dist[x] + 1
                    queue.append(y)
        if len(dist) < n or max(dist.values()) > d:
            return False
    return True


def is_minimal(mask, d):
    """No kept edge can be deleted without losing the property."""
    for e in np.flatnonzero(mask):
        fewer = mask.copy()
        fewer[e] = 0
        if diameter_at_most_d(fewer, d):
            return False
    return True


def random_masks(d, density, count, seed):
    return (np.random.default_rng(seed).random((count, d * 2 ** (d - 1))) < density).astype(np.uint8)


@pytest.mark.parametrize("d", [2, 3, 4, 5, 6, 7])
def test_diameter_check_matches_the_oracle(d):
    masks = np.concatenate([random_masks(d, p, 15, d) for p in (0.6, 0.85, 0.95)])
    masks = np.concatenate([masks, np.ones((1, masks.shape[1]), np.uint8), np.zeros((1, masks.shape[1]), np.uint8)])
    expected = [diameter_at_most_d(m, d) for m in masks]
    assert [hypercube.diameter_ok(m, d) for m in masks] == expected
    assert any(expected) and not all(expected)


def test_every_subset_of_q3_brute_force():
    # All 4096 subgraphs of Q_3: the kernel agrees with the oracle everywhere and the fewest edges is 9.
    masks = np.array(list(itertools.product([0, 1], repeat=12)), dtype=np.uint8)
    expected = np.array([diameter_at_most_d(m, 3) for m in masks])
    assert np.array_equal([hypercube.diameter_ok(m, 3) for m in masks], expected)
    assert masks[expected].sum(axis=1).min() == 9 == conjectured_edges(3)
    squares = np.array(list(itertools.product([0, 1], repeat=4)), dtype=np.uint8)
    assert min(m.sum() for m in squares if diameter_at_most_d(m, 2)) == 4  # d = 2: the whole 4-cycle


@pytest.mark.parametrize("d", [3, 4, 5])
def test_local_search_gives_minimal_subgraphs_with_diameter_d(d):
    starts = np.concatenate([random_masks(d, p, 8, 10 + d) for p in (0.0, 0.3, 0.7, 1.0)])
    seeds = object_seeds(d, len(starts))
    repaired = hypercube.repair_batch(starts, d, seeds)
    for start, fixed in zip(starts, repaired):
        assert diameter_at_most_d(fixed, d)
        assert np.all(fixed >= start)  # repair only adds edges
    for climb, open_vertex in [(0, 0.5), (15, 0.0), (15, 0.5), (15, 1.0)]:
        result = hypercube.local_search_batch(starts, d, seeds, climb, 3, open_vertex)
        for mask in result:
            assert diameter_at_most_d(mask, d) and is_minimal(mask, d)


def test_local_search_output_minimal_at_d6():
    start = random_masks(6, 0.5, 4, 1)
    for mask in hypercube.local_search_batch(start, 6, object_seeds(2, 4), 5, 3, 0.5):
        assert diameter_at_most_d(mask, 6) and is_minimal(mask, 6)


def test_climb_never_adds_edges():
    start = np.ones((40, 80), dtype=np.uint8)
    seeds = object_seeds(4, 40)
    plain = hypercube.local_search_batch(start, 5, seeds, 0, 3, 0.5).sum(axis=1)
    climbed = hypercube.local_search_batch(start, 5, seeds, 30, 3, 0.5).sum(axis=1)
    assert np.all(climbed <= plain) and climbed.mean() < plain.mean()


def test_results_do_not_depend_on_thread_count():
    start = random_masks(6, 0.6, 16, 5)
    seeds = object_seeds(6, 16)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = hypercube.local_search_batch(start, 6, seeds, 10, 3, 0.5)
        numba.set_num_threads(max(2, before))
        many = hypercube.local_search_batch(start, 6, seeds, 10, 3, 0.5)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, many)
    assert not np.array_equal(one, hypercube.local_search_batch(start, 6, object_seeds(7, 16), 10, 3, 0.5))


def test_local_search_reaches_the_known_values():
    # d = 3, 4: plain greedy deletion finds 9 and 20; d = 5: a short climb finds 40.
    for d, climb, count in [(3, 0, 200), (4, 0, 400), (5, 100, 16)]:
        problem = load_problem("hypercube_gh", d=d, climb=climb)
        scores = problem.score(problem.local_search(problem.initial(count, 0), d))
        assert scores.max() == problem.known_best == -conjectured_edges(d)


def test_records_verify():
    for d, record, edges in [(6, RECORD_6, 81), (7, RECORD_7, 157)]:
        problem = load_problem("hypercube_gh", d=d)
        mask = np.unpackbits(np.frombuffer(bytes.fromhex(record), dtype=np.uint8))[: problem.n_edges]
        assert problem.verify(mask) == problem.score(mask[None])[0] == -edges
        assert edges < conjectured_edges(d) and diameter_at_most_d(mask, d)
        assert not hypercube.diameter_ok(np.where(np.arange(problem.n_edges) == np.flatnonzero(mask)[0], 0, mask), d)


def test_tokens_round_trip_and_garbage():
    problem = load_problem("hypercube_gh", d=5, climb=5)
    batch = problem.local_search(problem.initial(30, 0), 1)
    assert_tokens_round_trip(problem, batch)
    garbage = [np.array([5, 3, 3]), np.array([], dtype=int), np.array([0, 1, 79]), np.array([2, 80, -1, 4]),
               np.arange(100) % 80]
    decoded, valid = problem.decode(garbage)
    assert list(valid) == [False, True, True, False, False]
    assert decoded.shape == (5, 80) and decoded.dtype == np.uint8
    assert list(np.flatnonzero(decoded[0])) == [3, 5] and list(np.flatnonzero(decoded[3])) == [2, 4]
    repaired = problem.local_search(decoded, 0)
    assert all(diameter_at_most_d(m, 5) for m in repaired)
    assert np.all(problem.score(decoded) <= -40)  # scored as repaired: at least the fewest edges known


def test_canonical_key_invariant_under_cube_symmetries():
    rng = np.random.default_rng(0)
    for d in (4, 5, 7):
        problem = load_problem("hypercube_gh", d=d, climb=2)
        batch = problem.local_search(np.concatenate([problem.initial(3, 0), random_masks(d, 0.5, 3, d)]), d)
        keys = problem.canonical_key(batch)
        for _ in range(3):
            permutation, flip = rng.permutation(d), int(rng.integers(2**d))
            moved = np.array([problem.apply_symmetry(m, permutation, flip) for m in batch])
            assert moved.sum() == batch.sum() and not np.array_equal(moved, batch)
            assert np.array_equal(problem.canonical_key(moved), keys)
            assert all(diameter_at_most_d(m, d) for m in moved[:1])
    keys = hypercube.canonical_key_batch(random_masks(5, 0.5, 200, 9), 5, 4)
    assert len(set(keys.tolist())) > 190  # different random subgraphs almost never collide


def test_verify_is_independent_and_rejects():
    problem = load_problem("hypercube_gh", d=4, climb=0)
    best = problem.local_search(problem.initial(50, 0), 0)
    top = best[np.argmax(problem.score(best))]
    assert problem.verify(top) == -20
    broken = top.copy()
    broken[np.flatnonzero(top)[0]] = 0
    with pytest.raises(ValueError, match="diameter above d = 4|disconnected"):
        problem.verify(broken)
    with pytest.raises(ValueError, match="disconnected"):
        problem.verify(np.zeros(32, dtype=np.uint8))
    with pytest.raises(ValueError, match="0/1 mask"):
        problem.verify(np.ones(31, dtype=np.uint8))
    # a path-like spanning tree is connected but far too long
    path = np.zeros(32, dtype=np.uint8)
    gray = [i ^ (i >> 1) for i in range(16)]
    for u, v in itertools.pairwise(gray):
        path[problem.cube_edges.index((min(u, v), max(u, v)))] = 1
    with pytest.raises(ValueError, match="diameter above d = 4: 0000 and 1000 are 15 apart"):
        problem.verify(path)


def test_reporting(tmp_path):
    problem = load_problem("hypercube_gh", d=3, climb=0)
    obj = problem.local_search(problem.initial(1, 0), 0)[0]
    native = problem.to_native(obj)
    assert native["d"] == 3 and len(native["edges"]) == native["edge_count"] == obj.sum()
    assert all(sum(a != b for a, b in zip(u, v)) == 1 for u, v in native["edges"])
    text = problem.render(obj)
    assert "degrees:" in text and "dimension 2" in text
    problem.draw(obj, tmp_path / "q3.png")
    assert (tmp_path / "q3.png").stat().st_size > 1000
    probe(problem, "hypercube_gh")


def test_known_best_table_and_parameter_checks():
    assert [conjectured_edges(d) for d in range(2, 8)] == [4, 9, 20, 40, 82, 161]
    assert load_problem("hypercube_gh", d=3).known_optimal
    assert load_problem("hypercube_gh", d=6).known_best == -81 and not load_problem("hypercube_gh", d=6).known_optimal
    assert load_problem("hypercube_gh", d=7).known_best == -157  # found here; the conjecture said 161
    assert load_problem("hypercube_gh", d=8).known_best == -conjectured_edges(8)
    assert load_problem("hypercube_gh").d == 6 and load_problem("hypercube_gh").vocab_size == 192
    with pytest.raises(UserError, match="d must be between"):
        load_problem("hypercube_gh", d=9)
    with pytest.raises(UserError, match="climb must be"):
        load_problem("hypercube_gh", climb=-1)
    with pytest.raises(UserError, match="open_vertex is a probability"):
        load_problem("hypercube_gh", open_vertex=1.5)
