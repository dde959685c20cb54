"""permanent_avoid: the numba kernels against plain-Python oracles, the problem contract, known values."""
import functools
import itertools
import math

import networkx as nx
import numba
import numpy as np
import pytest

from local_search import permanent as kernels
from patternboost import UserError, load_problem, object_seeds
from tests.conftest import assert_tokens_round_trip

P312 = (3, 1, 2)  # row k of an occurrence holds its 1 in the P312[k]-th smallest column


def to_matrix(rows, n):
    return np.array([[(int(r) >> j) & 1 for j in range(n)] for r in rows], dtype=np.int64)


def to_rows(matrix):
    return np.array([sum(int(v) << j for j, v in enumerate(row)) for row in matrix], dtype=np.uint64)


def random_matrices(n, density, count, seed):
    rng = np.random.default_rng(seed)
    return [(rng.random((n, n)) < density).astype(np.int64) for _ in range(count)]


def occurrences(matrix, pattern=P312):
    """Every occurrence as a triple of cells, by enumerating row and column triples."""
    n = len(matrix)
    found = []
    for rows in itertools.combinations(range(n), 3):
        for cols in itertools.combinations(range(n), 3):
            cells = [(rows[k], cols[pattern[k] - 1]) for k in range(3)]
            if all(matrix[r][c] for r, c in cells):
                found.append(cells)
    return found


def brute_permanent(matrix):
    n = len(matrix)
    return sum(math.prod(matrix[i][p[i]] for i in range(n)) for p in itertools.permutations(range(n)))


def memo_permanent(matrix):
    """Expansion along the first row with memoised (row, used columns), for sizes where n! is too many."""
    n = len(matrix)

    @functools.cache
    def ways(row, used):
        if row == n:
            return 1
        return sum(ways(row + 1, used | 1 << j) for j in range(n) if matrix[row][j] and not used >> j & 1)

    return ways(0, 0)


def is_312(cells):
    """Whether three cells, in any order, hold the pattern 312."""
    (a, z), (b, x), (c, y) = sorted(cells)
    return a < b < c and x < y < z


def is_maximal_avoiding(matrix):
    """No three 1s form 312, and each 0 would form one with two 1s."""
    ones = list(zip(*np.nonzero(matrix)))
    if any(is_312(cells) for cells in itertools.combinations(ones, 3)):
        return False
    return all(any(is_312([cell, p, q]) for p, q in itertools.combinations(ones, 2))
               for cell in zip(*np.nonzero(matrix == 0)))


# --- kernels against oracles --------------------------------------------------------------


def test_permanent_matches_brute_force_and_is_exact_at_the_largest_size():
    for n in range(1, 8):
        for density in (0.2, 0.5, 0.9):
            for matrix in random_matrices(n, density, 8, n):
                assert kernels.permanent(to_rows(matrix)) == brute_permanent(matrix)
    for matrix in random_matrices(12, 0.3, 5, 0):
        assert kernels.permanent(to_rows(matrix)) == memo_permanent(tuple(map(tuple, matrix)))
    # int64 holds the largest value, 16! ~ 2.1e13, and wrong orders of the lines would not matter
    for n in (1, 9, 16):
        assert kernels.permanent(np.full(n, (1 << n) - 1, dtype=np.uint64)) == math.factorial(n)
    assert kernels.permanent(np.array([3, 3, 7], dtype=np.uint64)) == 2  # two rows share two columns
    assert kernels.permanent(np.array([1, 0, 7], dtype=np.uint64)) == 0  # an empty row


def test_occurrence_counts_and_pattern_detection_match_brute_force():
    for n, density in [(3, 0.7), (5, 0.4), (6, 0.6), (7, 0.3)]:
        for matrix in random_matrices(n, density, 15, n):
            rows = to_rows(matrix)
            found = occurrences(matrix)
            expected = np.zeros((n, n), dtype=np.int64)
            for cells in found:
                for r, c in cells:
                    expected[r, c] += 1
            assert np.array_equal(kernels.occurrence_counts(rows), expected)
            assert kernels.avoids(rows) == (not found)


def test_blocked_cells_are_exactly_the_cells_completing_an_occurrence():
    for n, density in [(4, 0.5), (6, 0.3), (6, 0.6)]:
        for matrix in random_matrices(n, density, 10, 10 + n):
            blocked = to_matrix(kernels.blocked_cells(to_rows(matrix)), n)
            for r, s in itertools.product(range(n), repeat=2):
                grown = matrix.copy()
                grown[r, s] = 1
                completes = any((r, s) in cells for cells in occurrences(grown))
                assert blocked[r, s] == completes


def test_repair_leaves_an_avoiding_submatrix():
    for n, density in [(5, 0.8), (8, 0.5), (9, 0.9)]:
        start = kernels.random_batch(n, density, object_seeds(n, 20))
        for original, fixed in zip(start, kernels.repair_batch(start, object_seeds(1, 20))):
            before, after = to_matrix(original, n), to_matrix(fixed, n)
            assert not occurrences(after)
            assert np.all(after <= before)


@pytest.mark.parametrize("n", [5, 9])
def test_local_search_gives_maximal_avoiding_matrices(n):
    starts = np.concatenate([kernels.random_batch(n, 0.6, object_seeds(2, 10)), np.zeros((5, n), dtype=np.uint64),
                             kernels.random_avoiding_permutation_batch(n, object_seeds(3, 5))])
    for climb in (0, 20):
        result = kernels.local_search_batch(starts, object_seeds(4, len(starts)), climb, 2)
        for rows in result:
            matrix = to_matrix(rows, n)
            assert is_maximal_avoiding(matrix)
            assert matrix.sum() <= 4 * n - 1  # the bound behind max_length
        expected = [memo_permanent(tuple(map(tuple, to_matrix(r, n)))) for r in result]
        assert np.array_equal(kernels.permanent_batch(result), expected)


def test_climb_never_lowers_the_permanent():
    # Same seeds: the climb starts from exactly the matrix the plain search returns.
    starts = kernels.random_avoiding_permutation_batch(10, object_seeds(5, 60))
    plain = kernels.local_search_batch(starts, object_seeds(6, 60), 0, 2)
    climbed = kernels.local_search_batch(starts, object_seeds(6, 60), 40, 2)
    before, after = kernels.permanent_batch(plain), kernels.permanent_batch(climbed)
    assert np.all(after >= before) and after.mean() > before.mean()


def test_climb_leaves_the_plateau_of_zeros_through_matchings():
    # From the empty matrix random greedy often ends with permanent 0; the climb ranks those by
    # their largest matching and gets out.
    plain = kernels.local_search_batch(np.zeros((40, 8), dtype=np.uint64), object_seeds(7, 40), 0, 2)
    climbed = kernels.local_search_batch(np.zeros((40, 8), dtype=np.uint64), object_seeds(7, 40), 200, 2)
    assert (kernels.permanent_batch(plain) == 0).sum() > 10
    assert np.all(kernels.permanent_batch(climbed) > 0)


def test_matching_size_matches_networkx():
    for n, density in [(4, 0.3), (8, 0.15), (12, 0.1), (16, 0.2)]:
        for matrix in random_matrices(n, density, 10, n):
            graph = nx.Graph()
            graph.add_nodes_from([("r", i) for i in range(n)] + [("c", j) for j in range(n)])
            graph.add_edges_from((("r", i), ("c", j)) for i, j in zip(*np.nonzero(matrix)))
            expected = len(nx.bipartite.maximum_matching(graph, top_nodes=[("r", i) for i in range(n)])) // 2
            assert kernels.matching_size(to_rows(matrix)) == expected


def test_random_avoiding_permutations_cover_all_of_them():
    batch = kernels.random_avoiding_permutation_batch(4, object_seeds(8, 600))
    seen = set()
    for rows in batch:
        matrix = to_matrix(rows, 4)
        assert np.all(matrix.sum(axis=0) == 1) and np.all(matrix.sum(axis=1) == 1)
        assert not occurrences(matrix)
        seen.add(tuple(rows.tolist()))
    assert len(seen) == 14  # the Catalan number C_4: every 312-avoiding permutation appears


def test_results_are_seeded_and_do_not_depend_on_thread_count():
    starts = kernels.random_batch(11, 0.4, object_seeds(9, 32))
    seeds = object_seeds(10, 32)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = kernels.local_search_batch(starts, seeds, 15, 2)
        numba.set_num_threads(max(2, before))
        many = kernels.local_search_batch(starts, seeds, 15, 2)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, many)
    assert not np.array_equal(one, kernels.local_search_batch(starts, object_seeds(11, 32), 15, 2))


# --- all matrices at tiny sizes ---------------------------------------------------------------


def all_matrices(n):
    codes = np.arange(2 ** (n * n))
    return ((codes[:, None] >> np.arange(n * n)) & 1).reshape(-1, n, n)


def contains(batch, pattern):
    n = batch.shape[1]
    found = np.zeros(len(batch), dtype=bool)
    for rows in itertools.combinations(range(n), 3):
        for cols in itertools.combinations(range(n), 3):
            found |= np.all([batch[:, rows[k], cols[pattern[k] - 1]] for k in range(3)], axis=0)
    return found


def permanents(batch):
    n = batch.shape[1]
    return sum(np.prod([batch[:, i, p[i]] for i in range(n)], axis=0) for p in itertools.permutations(range(n)))


DIHEDRAL = {
    "identity": lambda m: m,
    "transpose": lambda m: m.transpose(0, 2, 1),
    "anti-transpose": lambda m: m[:, ::-1, ::-1].transpose(0, 2, 1),
    "flip rows": lambda m: m[:, ::-1, :],
    "flip columns": lambda m: m[:, :, ::-1],
    "rotate 180": lambda m: m[:, ::-1, ::-1],
    "rotate 90": lambda m: np.rot90(m, 1, axes=(1, 2)),
    "rotate 270": lambda m: np.rot90(m, 3, axes=(1, 2)),
}


def test_only_the_anti_transpose_keeps_312_avoidance():
    batch = all_matrices(4)
    avoiding = ~contains(batch, P312)
    keeps = {name: np.array_equal(~contains(np.ascontiguousarray(g(batch)), P312), avoiding)
             for name, g in DIHEDRAL.items()}
    assert {name for name, kept in keeps.items() if kept} == {"identity", "anti-transpose"}
    some = batch[::997]
    assert all(np.array_equal(permanents(np.ascontiguousarray(g(some))), permanents(some)) for g in DIHEDRAL.values())
    # the kernel's anti-transpose is the same map: (i, j) -> (n-1-j, n-1-i)
    for matrix in random_matrices(7, 0.4, 10, 12):
        flipped = to_matrix(kernels.antitranspose(to_rows(matrix)), 7)
        assert np.array_equal(flipped, matrix[::-1, ::-1].T)


def test_brute_force_over_all_small_matrices_gives_the_known_values():
    problem = load_problem("permanent_avoid", n=4)
    for n in range(1, 5):
        batch = all_matrices(n)
        avoiding = ~contains(batch, P312)
        assert permanents(batch[avoiding]).max() == [1, 2, 4, 8][n - 1]
        assert batch[avoiding].sum(axis=(1, 2)).max() == max(n, 4 * n - 4)
        assert np.array_equal(kernels.avoids_batch(np.array([to_rows(m) for m in batch[::37]])), avoiding[::37])
    four = all_matrices(4)
    assert permanents(four[~contains(four, (1, 2, 3))]).max() == 9  # the pattern matters
    assert problem.known_best == 8 and problem.known_optimal


def test_local_search_reaches_the_known_maxima():
    for n in range(2, 10):
        problem = load_problem("permanent_avoid", n=n, climb=300)
        best = problem.score(problem.local_search(problem.initial(200, n), n)).max()
        assert best == problem.known_best


# --- the problem --------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["cells", "rows", "bits"])
def test_tokens_round_trip(encoding):
    problem = load_problem("permanent_avoid", n=7, encoding=encoding, climb=5)
    batch = problem.local_search(problem.initial(40, 0), 1)
    assert_tokens_round_trip(problem, batch)


def test_garbage_decodes_to_a_matrix_and_is_flagged():
    cells = load_problem("permanent_avoid", n=4)
    decoded, valid = cells.decode([np.array([5, 3, 3]), np.array([], dtype=int), np.array([0, 5, 10, 15])])
    assert list(valid) == [False, True, True]
    assert decoded[0].tolist() == [0b1000, 0b10, 0, 0] and decoded[2].tolist() == [1, 2, 4, 8]
    assert problem_ok(cells, decoded)
    rows = load_problem("permanent_avoid", n=3, encoding="rows")
    decoded, valid = rows.decode([np.array([2, 0, 3, 3, 1]), np.array([0, 3, 1, 2, 3]), np.array([0, 3, 1])])
    assert list(valid) == [False, True, False]
    assert decoded[0].tolist() == [0b101, 0, 0b10] and decoded[1].tolist() == [1, 0b110, 0]
    bits = load_problem("permanent_avoid", n=2, encoding="bits")
    decoded, valid = bits.decode([np.array([1, 0, 0, 1]), np.array([1, 1, 1])])
    assert list(valid) == [True, False] and decoded[1].tolist() == [3, 1]


def problem_ok(problem, decoded):
    """Whatever decoding gives, local search turns into valid matrices that verify()."""
    repaired = problem.local_search(decoded, 0)
    return all(problem.verify(obj) == score for obj, score in zip(repaired, problem.score(repaired)))


def test_dense_garbage_is_repaired_and_scored_as_its_repair():
    problem = load_problem("permanent_avoid", n=8, climb=10)
    full = np.full((3, 8), 255, dtype=np.uint64)
    assert problem_ok(problem, full)
    repaired = kernels.repair_batch(full, object_seeds(0, 3))
    assert np.array_equal(problem.score(full), kernels.permanent_batch(repaired))


def test_canonical_key_is_invariant_under_the_anti_transpose():
    problem = load_problem("permanent_avoid", n=9, climb=20)
    batch = problem.local_search(problem.initial(60, 2), 3)
    flipped = np.array([kernels.antitranspose(rows) for rows in batch])
    assert np.array_equal(problem.canonical_key(batch), problem.canonical_key(flipped))
    orbits = {min(tuple(r.tolist()), tuple(f.tolist())) for r, f in zip(batch, flipped)}
    assert len(set(problem.canonical_key(batch).tolist())) == len(orbits) > 10


def test_verify_is_independent_and_rejects_312():
    problem = load_problem("permanent_avoid", n=5)
    pattern = to_rows([[0, 0, 1, 0, 0], [1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]])
    with pytest.raises(ValueError, match="pattern 312 at rows 0 < 1 < 2, columns 0 < 1 < 2"):
        problem.verify(pattern)
    with pytest.raises(ValueError, match="expected 5 rows of 5 bits"):
        problem.verify(np.array([1, 2, 4, 8, 32], dtype=np.uint64))
    best = problem.local_search(problem.initial(100, 0), 0)
    top = best[np.argmax(problem.score(best))]
    assert problem.verify(top) == 16 == problem.known_best
    native = problem.to_native(top)
    assert native["n"] == 5 and np.array_equal(native["matrix"], to_matrix(top, 5))
    text = problem.render(top)
    assert text.startswith("permanent: 16") and len(text.splitlines()) == 7


def test_draw_writes_a_png(tmp_path):
    problem = load_problem("permanent_avoid", n=6)
    top = problem.local_search(problem.initial(5, 0), 0)[0]
    problem.draw(top, tmp_path / "m.png")
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_known_best_table_and_parameter_checks():
    values = [load_problem("permanent_avoid", n=n).known_best for n in range(1, 13)]
    assert values == [1, 2, 4, 8, 16, 32, 64, 120, 225, 424, 795, 1484]
    assert load_problem("permanent_avoid", n=8).known_optimal
    assert not load_problem("permanent_avoid", n=9).known_optimal
    assert load_problem("permanent_avoid", n=14).known_best is None
    assert load_problem("permanent_avoid").n == 10
    for bad, message in [({"n": 17}, "n must be between"), ({"n": 0}, "n must be between"),
                         ({"kick": 0}, "kick >= 1"), ({"climb": -1}, "climb must be"),
                         ({"encoding": "dots"}, "encoding must be one of"), ({"m": 3}, "unknown parameter")]:
        with pytest.raises(UserError, match=message):
            load_problem("permanent_avoid", **bad)
