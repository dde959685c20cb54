"""No-isosceles sets: the numba kernels against plain brute force, and the problem module."""
import itertools

import numba
import numpy as np
import pytest

from local_search import isosceles, isosceles_search
from patternboost import UserError, load_problem, object_seeds
from tests.conftest import assert_tokens_round_trip

# --- plain oracles ------------------------------------------------------------------------------


def squared(p, q):
    return (p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2


def is_isosceles(a, b, c):
    ab, bc, ca = squared(a, b), squared(b, c), squared(c, a)
    return ab == bc or bc == ca or ca == ab


def is_valid(points):
    return not any(is_isosceles(*t) for t in itertools.combinations(points, 3))


def triangles_with(cell, points):
    """Isosceles triangles {cell, P, Q} with P, Q among points (cell excluded)."""
    others = [p for p in points if p != cell]
    return sum(is_isosceles(cell, p, q) for p, q in itertools.combinations(others, 2))


def points_of(grid):
    return [tuple(map(int, p)) for p in zip(*np.nonzero(grid))]


def is_maximal(grid):
    n = grid.shape[0]
    points = points_of(grid)
    return all(not is_valid(points + [(r, c)]) for r in range(n) for c in range(n) if not grid[r, c])


def largest_by_exhaustion(n):
    """Branch and bound over all valid sets, cells in order, plainly."""
    cells = [(r, c) for r in range(n) for c in range(n)]
    best = 0

    def grow(start, chosen, used):  # used[i]: squared distances from chosen[i] to the others
        nonlocal best
        best = max(best, len(chosen))
        for i in range(start, len(cells)):
            if len(chosen) + len(cells) - i <= best:
                return
            mine = [squared(cells[i], q) for q in chosen]
            if len(set(mine)) < len(mine) or any(d in used[j] for j, d in enumerate(mine)):
                continue
            grow(i + 1, chosen + [cells[i]], [u | {d} for u, d in zip(used, mine)] + [set(mine)])

    grow(0, [], [])
    return best


def random_grids(n, density, count, seed):
    return (np.random.default_rng(seed).random((count, n, n)) < density).astype(np.uint8)


def search(grids, seed=0, climb=0, kick=2, tabu=0, tenure=5):
    return isosceles.local_search_batch(grids, object_seeds(seed, len(grids)), climb, kick, tabu, tenure,
                                        4 * grids.shape[1] + 16)


def state_of(grid):
    """The kernels' search state for a grid: member, blocked, rows, cols, size."""
    n = grid.shape[0]
    member = grid.reshape(-1).copy()
    rows = np.zeros(n * n, dtype=np.int64)
    cols = np.zeros(n * n, dtype=np.int64)
    points = points_of(grid)
    for i, (r, c) in enumerate(points):
        rows[i], cols[i] = r, c
    blocked = isosceles.blocked_counts(member, rows, cols, len(points), n, isosceles.geometry(n))
    return member, blocked, rows, cols, len(points)


# --- kernels ------------------------------------------------------------------------------------


@pytest.mark.parametrize("n,density", [(6, 0.3), (9, 0.15), (11, 0.08)])
def test_blocked_counts_are_triangle_counts(n, density):
    # Valid or not: a cell outside S is in blocked[c] isosceles triangles with S, a point of S in
    # blocked[c] - (|S| - 1).
    for grid in random_grids(n, density, 6, n):
        _, blocked, _, _, size = state_of(grid)
        points = points_of(grid)
        for r, c in itertools.product(range(n), range(n)):
            expected = triangles_with((r, c), points) + (size - 1 if grid[r, c] else 0)
            assert blocked[r * n + c] == expected
        assert blocked[-1] >= isosceles.SENTINEL  # out-of-grid bumps land on the sentinel


def test_add_and_remove_keep_counts_and_report_freed_cells():
    n = 10
    tables = isosceles.geometry(n)
    member, blocked, rows, cols, size = state_of(np.zeros((n, n), dtype=np.uint8))
    hits = np.empty(n * n, dtype=np.int64)
    rng = np.random.default_rng(1)
    for step in range(120):
        if size > 3 and rng.random() < 0.4:
            before = blocked.copy()
            size, n_hits = isosceles.remove_point(member, blocked, rows, cols, size, rng.integers(size), n, tables,
                                                  hits, 0)
            freed = set(np.flatnonzero((before[:-1] > 0) & (blocked[:-1] == 0)).tolist())
            assert set(hits[:n_hits].tolist()) == freed and n_hits == len(freed)
        else:  # any cell, free or not: counts stay exact for invalid sets too
            cell = rng.choice(np.flatnonzero(member == 0))
            size = isosceles.add_point(member, blocked, rows, cols, size, cell, n, tables, hits)
        grid = member.reshape(n, n)
        assert sorted(zip(rows[:size].tolist(), cols[:size].tolist())) == points_of(grid)
        assert np.array_equal(blocked, state_of(grid)[1])


def test_conflicts_count_triangles_through_each_point():
    for grid in random_grids(8, 0.25, 10, 2):
        points = points_of(grid)
        rows, cols = (np.array(x, dtype=np.int64) for x in zip(*points))
        counts = isosceles.conflicts(rows, cols, len(points), np.zeros(2 * 64 + 1, dtype=np.int64))
        assert counts.tolist() == [triangles_with(p, points) for p in points]


@pytest.mark.parametrize("n", [7, 10, 13])
def test_local_search_gives_valid_maximal_sets_from_garbage(n):
    starts = np.concatenate([random_grids(n, 0.3, 8, n), random_grids(n, 0.9, 4, n + 1),
                             np.zeros((2, n, n), dtype=np.uint8), np.ones((2, n, n), dtype=np.uint8)])
    repaired = isosceles.repair_batch(starts, object_seeds(3, len(starts)), 4 * n + 16)
    for start, fixed in zip(starts, repaired):
        assert is_valid(points_of(fixed))
        assert set(points_of(fixed)) <= set(points_of(start))
    for climb, tabu in ((0, 0), (10, 0), (0, 30), (5, 10)):
        for grid in search(starts, 3, climb=climb, tabu=tabu):
            assert is_valid(points_of(grid)) and is_maximal(grid)


def test_repair_drops_the_point_in_most_triangles():
    n = 12
    for grid in search(np.zeros((6, n, n), dtype=np.uint8), 4):
        points = points_of(grid)
        # Add an outside cell that ends up the unique point in most triangles: repair must
        # drop exactly it and give back the valid set.
        outside = sorted((c for c in itertools.product(range(n), range(n)) if c not in points),
                         key=lambda c: -triangles_with(c, points))
        extra = next(c for c in outside
                     if triangles_with(c, points) > max(triangles_with(p, points + [c]) for p in points))
        spoiled = grid.copy()
        spoiled[extra] = 1
        fixed = isosceles.repair_batch(spoiled[None], object_seeds(5, 1), 4 * n + 16)[0]
        assert np.array_equal(fixed, grid)


def test_climb_and_tabu_never_lose_points():
    starts = search(np.zeros((40, 14, 14), dtype=np.uint8), 6)
    before = isosceles.point_count_batch(starts)
    for climb, tabu in ((30, 0), (0, 60)):
        after = isosceles.point_count_batch(search(starts, 7, climb=climb, tabu=tabu))
        assert np.all(after >= before) and after.mean() > before.mean()


def test_results_do_not_depend_on_thread_count():
    starts = random_grids(16, 0.1, 32, 8)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = search(starts, 9, climb=10, tabu=20)
        numba.set_num_threads(max(2, before))
        many = search(starts, 9, climb=10, tabu=20)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, many)
    assert np.array_equal(one, search(starts, 9, climb=10, tabu=20))
    assert not np.array_equal(one, search(starts, 10, climb=10, tabu=20))


def test_exhaustive_search_matches_known_values_and_local_search_finds_them():
    known = [1, 2, 4, 6, 7, 9, 10, 13]
    for n in range(1, 7):
        assert largest_by_exhaustion(n) == known[n - 1]
    for n in range(1, 9):
        problem = load_problem("no_isosceles", n=n, climb=0, tabu=100)
        assert problem.known_best == known[n - 1] and problem.known_optimal
        best = problem.score(problem.local_search(problem.initial(60, n), n)).max()
        assert best == known[n - 1]


def test_canonical_key_is_invariant_under_the_symmetries_of_the_square():
    problem = load_problem("no_isosceles", n=11)
    batch = search(np.zeros((30, 11, 11), dtype=np.uint8), 11)
    keys = problem.canonical_key(batch)
    images = [lambda g: g, np.rot90, lambda g: np.rot90(g, 2), lambda g: np.rot90(g, 3), np.flipud, np.fliplr,
              np.transpose, lambda g: np.rot90(g, 2).T]
    for image in images:
        assert np.array_equal(problem.canonical_key(np.stack([image(g) for g in batch])), keys)
    distinct = {tuple(sorted(points_of(min((image(g) for image in images), key=lambda x: x.tobytes()))))
                for g in batch}
    assert len(set(keys.tolist())) == len(distinct)
    assert len(set(problem.canonical_key(random_grids(11, 0.2, 200, 12)).tolist())) == 200


# --- the problem module ---------------------------------------------------------------------------


def test_tokens_round_trip():
    problem = load_problem("no_isosceles", n=12, tabu=20)
    batch = problem.local_search(problem.initial(50, 0), 1)
    sequences = assert_tokens_round_trip(problem, batch)
    assert all(np.all(np.diff(s) > 0) for s in sequences)  # points in increasing cell order


def test_garbage_decodes_to_a_grid_and_is_flagged():
    problem = load_problem("no_isosceles", n=5)
    sequences = [np.array([7, 3, 3]), np.array([], dtype=int), np.array([0, 1, 2]), np.array([4, 30, -1])]
    decoded, valid = problem.decode(sequences)
    assert valid.tolist() == [False, True, True, False]
    assert decoded.shape == (4, 5, 5)
    assert points_of(decoded[0]) == [(0, 3), (1, 2)] and points_of(decoded[3]) == [(0, 4)]
    assert problem.score(decoded).tolist() == [2, 0, 2, 1]  # [0, 1, 2] is a degenerate triangle
    repaired = problem.local_search(decoded, 0)
    assert all(problem.verify(g) <= 7 for g in repaired)


def test_verify_is_independent_and_rejects_isosceles_triangles():
    problem = load_problem("no_isosceles", n=6)
    collinear = np.zeros((6, 6), dtype=np.uint8)
    collinear[[1, 2, 3], [0, 1, 2]] = 1  # a diagonal with equal steps: degenerate, still isosceles
    with pytest.raises(ValueError, match="isosceles"):
        problem.verify(collinear)
    tilted = np.zeros((6, 6), dtype=np.uint8)
    tilted[[0, 1, 3], [0, 3, 1]] = 1  # |(0,0)-(1,3)| = |(0,0)-(3,1)|
    with pytest.raises(ValueError, match=r"squared distance 10 from \(0, 0\)"):
        problem.verify(tilted)
    with pytest.raises(ValueError, match="6 x 6"):
        problem.verify(np.zeros((5, 5), dtype=np.uint8))
    best = problem.local_search(problem.initial(40, 0), 0)
    top = best[np.argmax(problem.score(best))]
    assert problem.verify(top) == 9 == problem.known_best
    native = problem.to_native(top)
    assert native["n"] == 6 and len(native["points"]) == 9 and all(top[r, c] for r, c in native["points"])
    lines = problem.render(top).splitlines()
    assert len(lines) == 7 and "".join(lines[1:]).count("o") == 9


def test_draw_writes_a_png(tmp_path):
    problem = load_problem("no_isosceles", n=6)
    grid = problem.local_search(problem.initial(1, 0), 0)[0]
    path = tmp_path / "set.png"
    problem.draw(grid, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_known_best_table_and_parameter_checks():
    assert load_problem("no_isosceles", n=16).known_best == 28
    assert load_problem("no_isosceles", n=32).known_optimal
    big = load_problem("no_isosceles", n=64)
    assert big.known_best == 112 and not big.known_optimal
    assert load_problem("no_isosceles", n=100).known_best == 164
    assert load_problem("no_isosceles", n=20).known_best is None
    problem = load_problem("no_isosceles", n=100)
    assert problem.vocab_size == 10000 and problem.max_length == 208
    with pytest.raises(UserError, match="n must be between"):
        load_problem("no_isosceles", n=0)
    with pytest.raises(UserError, match="kick >= 1"):
        load_problem("no_isosceles", kick=0)
    with pytest.raises(UserError, match="unknown parameter"):
        load_problem("no_isosceles", m=3)
    with pytest.raises(ValueError, match="shape"):
        load_problem("no_isosceles", n=5).score(np.zeros((2, 4, 4)))
    with pytest.raises(UserError, match="symmetry must be one of none, mirror, rot180, diag, klein, diag2"):
        load_problem("no_isosceles", anneal=10, symmetry="rot90")
    with pytest.raises(UserError, match="symmetry=diag2 restricts the annealing search: set anneal"):
        load_problem("no_isosceles", symmetry="diag2")


# --- annealing over the orbits of a symmetry group (local_search/isosceles_search.py) ----------------------------


def triangle_count(points):
    return sum(is_isosceles(*t) for t in itertools.combinations(points, 3))


@pytest.mark.parametrize("symmetry", isosceles_search.SYMMETRIES)
def test_orbits_are_invariant_isosceles_free_and_avoid_fixed_cells(symmetry):
    n = 9
    cells, sizes = isosceles_search.orbits(n, symmetry)
    seen = set()
    for orbit, size in zip(cells, sizes):
        points = [(int(c) // n, int(c) % n) for c in orbit[:size]]
        assert all(c == -1 for c in orbit[size:]) and is_valid(points)
        for r, c in points:
            assert sorted(set(isosceles_search.images(n, symmetry, r, c))) == sorted(points)  # a whole orbit, unfixed
        assert not seen & set(points)
        seen |= set(points)
    if symmetry == "diag2":
        assert all(r != c and r + c != n - 1 for r, c in seen)  # the diagonals are left out


@pytest.mark.parametrize("symmetry", ["none", "mirror", "diag2"])
def test_the_triangle_count_and_the_exact_swap_change_match_brute_force(symmetry):
    n, rng = 10, np.random.default_rng(4)
    cells, sizes = isosceles_search.orbits(n, symmetry)
    tables = isosceles.geometry(n)
    member, pos = np.zeros(n * n, np.uint8), -np.ones(n * n, np.int64)
    blocked = np.zeros(n * n + 1, np.int32)
    blocked[-1] = isosceles.SENTINEL
    rows, cols, hits = np.zeros(n * n, np.int64), np.zeros(n * n, np.int64), np.empty(n * n, np.int64)
    orb_in, scal = np.zeros(len(cells), np.uint8), np.zeros(4, np.int64)
    args = (member, blocked, rows, cols, pos, orb_in, scal)
    for o in rng.choice(len(cells), size=min(len(cells) // 2, 24 // int(sizes.max())), replace=False):
        isosceles_search.add_orbit(*args, o, cells, n, tables, hits)
    da, db = np.empty(4, np.int64), np.empty(4, np.int64)
    for _ in range(30):
        assert scal[isosceles_search.TRI] == triangle_count(points_of(member.reshape(n, n)))
        out = rng.choice(np.flatnonzero(orb_in))
        into = rng.choice(np.flatnonzero(orb_in == 0))
        delta = isosceles_search.swap_delta(rows, cols, scal[isosceles_search.SIZE], blocked, cells[out], sizes[out],
                                            cells[into], sizes[into], n, da, db)
        before = scal[isosceles_search.TRI]
        isosceles_search.remove_orbit(*args, out, cells, n, tables, hits)
        isosceles_search.add_orbit(*args, into, cells, n, tables, hits)
        assert scal[isosceles_search.TRI] - before == delta


def test_annealing_finds_symmetric_valid_sets_and_the_n16_optimum():
    problem = load_problem("no_isosceles", n=16, anneal=20000, symmetry="diag2")
    starts = problem.initial(8, 0)
    starts[0, 3, 5] = starts[0, 5, 3] = starts[0, 7, 2] = 1  # a start with points: its orbits join, then repair
    out = problem.local_search(starts, 5)
    assert np.array_equal(out, problem.local_search(starts, 5))  # seeded
    for grid in out:
        assert is_valid(points_of(grid))
        assert np.array_equal(grid, grid.T) and np.array_equal(grid, grid[::-1, ::-1].T)  # both diagonals
    assert problem.score(out).max() == 28  # the optimum (in 2 of the 8 searches with seeds 5, 6 and 7)


def test_annealing_recommends_few_searches():
    assert load_problem("no_isosceles", n=32).settings["loop.initial"] == 20000
    slow = load_problem("no_isosceles", n=32, anneal=1000, symmetry="diag2").settings
    assert (slow["loop.initial"], slow["sample.count"], slow["sample.searches"]) == (8, 64, 1)
