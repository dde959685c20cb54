import pytest

from patternboost import Problem, UserError, load_problem
from patternboost.registry import describe, resolve
from problems.c4_free import C4Free


def test_every_way_to_name_a_problem():
    by_name = load_problem("c4_free", n=10)
    by_module = load_problem("problems.c4_free:C4Free", n=10)
    by_file = load_problem(C4Free.__module__.replace(".", "/") + ".py:C4Free", n=10)
    for problem in (by_name, by_module, by_file):
        assert isinstance(problem, Problem) and problem.n == 10 and problem.known_best == 16
    assert resolve("c4_free") is C4Free
    assert resolve("problems/c4_free.py:C4Free") is C4Free  # a file of a package: the module `import` gives
    assert any(name == "c4_free" and defaults["n"] == 33 for name, _, defaults, _ in describe())


def test_unknown_names_fail_clearly():
    with pytest.raises(UserError, match="unknown problem 'c5_free'"):
        load_problem("c5_free")
    with pytest.raises(UserError, match="failed to import"):
        load_problem("no_such_module:Thing")
    with pytest.raises(UserError, match="no such file"):
        load_problem("missing/file.py:Thing")
