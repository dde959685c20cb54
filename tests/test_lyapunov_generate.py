"""Backward (system, V) pairs and random polynomial systems: exactness, V' <= 0, shapes, sizes, determinism."""
import dataclasses
import itertools

import numpy as np
import pytest
import sympy

from problems.lyapunov import generate, variables

CONFIGS = {"polynomial": generate.POLYNOMIAL, "non-polynomial": generate.NON_POLYNOMIAL}
SEEDS = range(24)


@pytest.fixture(scope="module", params=list(CONFIGS))
def drawn(request):
    config = CONFIGS[request.param]
    return config, [generate.backward_sample(seed, config) for seed in SEEDS]


def _xs(system):
    return variables(len(system))


def _functions(sample):
    """V, grad V and f as numpy functions of an (n, points) array."""
    xs = _xs(sample.system)
    grad = [sympy.diff(sample.V, x) for x in xs]
    return (sympy.lambdify([xs], sample.V, "numpy"), sympy.lambdify([xs], grad, "numpy"),
            sympy.lambdify([xs], list(sample.system), "numpy"))


def _column(values, points):
    """lambdify gives a constant as a scalar: broadcast every entry to one value per point."""
    return np.array([np.broadcast_to(np.asarray(v, dtype=float), points.shape[1:]) for v in values])


def test_exact_at_zero(drawn):
    _, samples = drawn
    for s in samples:
        zero = {x: 0 for x in _xs(s.system)}
        assert s.V.subs(zero) == 0
        assert all(e.subs(zero) == 0 for e in s.system)
        assert not s.V.has(sympy.Float) and not any(e.has(sympy.Float) for e in s.system)


def test_vdot_is_minus_sum_of_squares_exactly(drawn):
    """f is -h_i^2 G_i plus rotations g (G_j, -G_i) at G = grad V, and G . f = -sum h_i^2 G_i^2 for every G."""
    config, samples = drawn
    for s in samples:
        xs = _xs(s.system)
        grad = [sympy.diff(s.V, x) for x in xs]
        gs = sympy.symbols(f"G0:{len(xs)}")
        rebuilt = [sympy.Integer(0)] * len(xs)
        for i, h in s.h.items():
            rebuilt[i] -= h**2 * gs[i]
        for i, j, g in s.rotations:
            rebuilt[i] += g * gs[j]
            rebuilt[j] -= g * gs[i]
        minus = sum(h**2 * gs[i] ** 2 for i, h in s.h.items())
        assert sympy.expand(sum(g * e for g, e in zip(gs, rebuilt)) + minus) == 0
        at_grad = dict(zip(gs, grad))
        assert all(sympy.expand(r.subs(at_grad) - e) == 0 for r, e in zip(rebuilt, s.system))
        if config.polynomial:
            assert sympy.expand(sum(g * e for g, e in zip(grad, s.system)) + minus.subs(at_grad)) == 0


def test_vdot_nonpositive_numerically(drawn):
    _, samples = drawn
    rng = np.random.default_rng(0)
    for s in samples:
        _, grad, f = _functions(s)
        points = rng.normal(size=(len(s.system), 300)) * 10 ** rng.uniform(-2, 0.2, size=300)
        with np.errstate(all="ignore"):  # exp(W) overflows far out: those points are left out
            g, e = _column(grad(points), points), _column(f(points), points)
            vdot = (g * e).sum(axis=0)
            scale = np.linalg.norm(g, axis=0) * np.linalg.norm(e, axis=0)  # rounding of the cancelling rotations
        ok = np.isfinite(vdot) & np.isfinite(scale)
        assert ok.mean() > 0.9
        assert np.all(vdot[ok] <= 1e-9 * (1 + scale[ok]))


def test_v_positive_and_growing(drawn):
    _, samples = drawn
    rng = np.random.default_rng(1)
    for s in samples:
        v = _functions(s)[0]
        n = len(s.system)
        points = rng.normal(size=(n, 300)) * 10 ** rng.uniform(-2, 1, size=300)
        with np.errstate(all="ignore"):
            assert np.all(v(points) > 0)
            directions = rng.normal(size=(n, 20))
            directions /= np.linalg.norm(directions, axis=0)
            values = [v(radius * directions) for radius in (1, 10, 100)]
        for small, big in itertools.pairwise(values):
            assert np.all((big > small) | np.isposinf(big))


def test_equation_counts_and_sizes(drawn):
    config, samples = drawn
    counts = {len(s.system) for s in samples}
    assert counts <= set(range(config.min_equations, config.max_equations + 1))
    assert len(counts) >= 2
    for s in samples:
        assert generate.size(s.V) <= config.max_function_size
        assert all(0 < generate.size(e) <= config.max_equation_size for e in s.system)
        xs = _xs(s.system)
        assert any(e.free_symbols - {x} for x, e in zip(xs, s.system))  # coupled
        assert all(e != 0 and e.free_symbols for e in s.system)


def test_polynomial_or_not(drawn):
    config, samples = drawn
    for s in samples:
        xs = _xs(s.system)
        polynomial = all(e.is_polynomial(*xs) for e in (s.V, *s.system))
        assert polynomial == config.polynomial
        if config.polynomial:
            assert all(c.is_Integer for e in (s.V, *s.system) for c in sympy.Poly(e, *xs).coeffs())


def test_determinism():
    for config in CONFIGS.values():
        assert generate.backward_pair(7, config) == generate.backward_pair(7, config)
        pairs = generate.backward_pairs(range(10), config)
        assert pairs == [generate.backward_pair(seed, config) for seed in range(10)]
        assert len({sympy.srepr(p) for p in pairs}) == 10


def test_config():
    assert generate.POLYNOMIAL.max_equations == 5 and generate.NON_POLYNOMIAL.max_equations == 3
    three = generate.BackwardConfig(min_equations=3, max_equations=3)
    assert all(len(f) == 3 for f, v in generate.backward_pairs(range(5), three))
    tight = dataclasses.replace(generate.POLYNOMIAL, max_equation_size=40, max_function_size=30)
    for f, v in generate.backward_pairs(range(5), tight):
        assert generate.size(v) <= 30 and all(generate.size(e) <= 40 for e in f)
    with pytest.raises(ValueError):
        generate.BackwardConfig(min_equations=4, max_equations=3)
    with pytest.raises(RuntimeError):
        generate.backward_pair(0, generate.BackwardConfig(max_function_size=1, max_tries=3))


@pytest.mark.parametrize("n", [2, 3])
def test_random_system(n):
    systems = [generate.random_system(seed, n) for seed in range(50)]
    assert systems[3] == generate.random_system(3, n)
    assert len({sympy.srepr(s) for s in systems}) == 50
    xs = variables(n)
    for system in systems:
        assert len(system) == n
        for e in system:
            poly = sympy.Poly(e, *xs)
            assert 1 <= len(poly.terms()) <= 5
            assert all(1 <= sum(m) <= 3 for m in poly.monoms())  # no constant: f(0) = 0
            assert all(c.is_Integer and 1 <= abs(c) <= 3 for c in poly.coeffs())
    for e in generate.random_system(0, n, max_terms=8, max_degree=2, coefficients=9):
        poly = sympy.Poly(e, *xs)
        assert len(poly.terms()) <= 8 and poly.total_degree() <= 2 and max(abs(c) for c in poly.coeffs()) <= 9
