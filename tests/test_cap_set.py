"""The example plugin (examples/cap_set.py): kernels against brute force, and the plugin run end to end, both as
a file and as an installed distribution declaring the entry-point group."""
import itertools
import json
import os
import shutil

import numba
import numpy as np
import pytest

from patternboost import load_problem
from tests.conftest import ROOT, TINY_ENGINE, run_cli

SPEC = os.path.join(ROOT, "examples", "cap_set.py") + ":CapSet"


def cap(n, **params):
    return load_problem(SPEC, n=n, **params)


def lines_through(points, n):
    """All (x, y, z) of distinct member tuples on a line, by brute force."""
    return [t for t in itertools.combinations(points, 3)
            if all((a + b + c) % 3 == 0 for a, b, c in zip(*t))]


def as_tuples(problem, obj):
    return [problem.coordinates(p) for p in np.flatnonzero(obj)]


@pytest.mark.parametrize("n", [3, 4])
def test_local_search_gives_maximal_caps(n):
    problem = cap(n, climb=5)
    rng = np.random.default_rng(0)
    garbage = rng.integers(0, 2, (40, problem.points), dtype=np.uint8)  # dense random sets, full of lines
    for start in (problem.initial(40, 0), garbage):
        for obj in problem.local_search(start, 1):
            members = as_tuples(problem, obj)
            assert not lines_through(members, n)
            for outsider in set(itertools.product(range(3), repeat=n)) - set(members):
                assert lines_through([*members, outsider], n), "not maximal"


def test_brute_force_maxima_are_found_by_search():
    for n in (1, 2):
        problem = cap(n)
        best = max(len(s) for k in range(problem.points + 1)
                   for s in itertools.combinations(itertools.product(range(3), repeat=n), k)
                   if not lines_through(s, n))
        assert best == problem.known_best
    for n in (1, 2, 3, 4):
        problem = cap(n)
        assert problem.score(problem.local_search(problem.initial(200, 0), 0)).max() == problem.known_best


def test_symmetric_search_keeps_caps_closed_under_negation_and_finds_the_112_cap():
    problem = cap(4, climb=20, symmetric=True)
    rng = np.random.default_rng(1)
    garbage = rng.integers(0, 2, (20, problem.points), dtype=np.uint8)
    for start in (problem.initial(20, 0), garbage):
        for obj in problem.local_search(start, 2):
            members = set(as_tuples(problem, obj))
            assert (0,) * 4 not in members and not lines_through(sorted(members), 4)
            assert members == {tuple(-a % 3 for a in x) for x in members}
            # maximal among symmetric caps: any other pair {x, -x} completes a line
            for x in set(itertools.product(range(3), repeat=4)) - members - {(0,) * 4}:
                assert lines_through([*members, x, tuple(-a % 3 for a in x)], 4)
    six = cap(6, climb=2000, kick=1, symmetric=True)
    found = six.local_search(six.initial(16, 0), 1)
    best = found[np.argmax(six.score(found))]
    assert six.verify(best) == 112 == six.known_best  # the maximum (Potechin), by the plain-Python check


def test_seeds_decide_results_on_any_thread_count():
    problem = cap(4)
    start = problem.initial(64, 0)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    one = problem.local_search(start, 7)
    numba.set_num_threads(threads)
    assert np.array_equal(one, problem.local_search(start, 7))
    assert not np.array_equal(one, problem.local_search(start, 8))


def test_canonical_key_is_affine_invariant_and_tokens_round_trip():
    problem = cap(4)
    caps = problem.local_search(problem.initial(20, 0), 0)
    rng = np.random.default_rng(1)
    while True:  # a random invertible affine map x -> Ax + b over F_3
        matrix = rng.integers(0, 3, (4, 4))
        if round(np.linalg.det(matrix)) % 3:
            break
    shift = rng.integers(0, 3, 4)
    index = {problem.coordinates(p): p for p in range(problem.points)}
    moved = np.zeros_like(caps)
    for row, obj in zip(moved, caps):
        for x in as_tuples(problem, obj):
            row[index[tuple((matrix @ np.array(x) + shift) % 3)]] = 1
    assert np.array_equal(problem.canonical_key(moved), problem.canonical_key(caps))
    assert problem.verify(moved[0]) == problem.score(caps)[0]
    decoded, valid = problem.decode(problem.encode(caps))
    assert valid.all() and np.array_equal(decoded, caps)
    decoded, valid = problem.decode([np.array([5, 5, 1]), np.array([], dtype=int)])
    assert list(valid) == [False, True] and decoded[0].sum() == 2


def test_verify_rejects_a_line():
    problem = cap(2)
    line = np.zeros(9, dtype=np.uint8)
    line[[0, 1, 2]] = 1  # (0,0), (1,0), (2,0)
    with pytest.raises(ValueError, match="lie on a line"):
        problem.verify(line)


def test_plugin_file_runs_end_to_end(tmp_path):
    run_dir = str(tmp_path / "run")
    code, out, err = run_cli("run", SPEC, "--set", "n=4", "--set", "climb=0", *TINY_ENGINE, "--rounds", "1",
                             "--run-dir", run_dir)
    assert code == 0, err
    with open(os.path.join(run_dir, "best.json")) as f:
        best = json.load(f)
    assert best["verified"] and best["known_best"] == 20 and 16 <= best["score"] <= 20
    assert len(best["object"]["points"]) == best["score"]
    code, out, _ = run_cli("show", run_dir)
    assert code == 0 and "cap of size" in out


def test_installed_plugin_is_listed_and_found_by_name(tmp_path):
    """A distribution on the path that declares the entry-point group, as `pip install` would leave it."""
    site = tmp_path / "site"
    (site / "capset_plugin-0.1.dist-info").mkdir(parents=True)
    shutil.copy(SPEC.rpartition(":")[0], site / "capset_plugin.py")
    (site / "capset_plugin-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: capset-plugin\nVersion: 0.1\n")
    (site / "capset_plugin-0.1.dist-info" / "entry_points.txt").write_text(
        "[patternboost.problems]\ncap_set = capset_plugin:CapSet\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    code, out, err = run_cli("problems", env=env)
    assert code == 0 and "cap_set" in out and "capset_plugin:CapSet" in out, err
    run_dir = str(tmp_path / "run")
    code, out, err = run_cli("run", "cap_set", "--set", "n=3", *TINY_ENGINE, "--target", "9", "--run-dir", run_dir,
                             env=env)
    assert code == 0 and "reached the target 9" in out, err
