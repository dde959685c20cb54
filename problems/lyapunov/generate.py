"""Random data for Lyapunov function discovery: backward (system, V) pairs, and random polynomial systems.

Backward generation (Alfarano, Charton, Hayat, arXiv 2410.08304, appendix B; their code is facebookresearch/Lyapunov)
draws the answer first. V = proper part + cross part, both exact (integer coefficients):

    proper   sum_i c_i x_i^(2 d_i), or z^T P z with z_i = x_i^(d_i) and P = A^T A + diag(D) (P positive definite)
    cross    sum_k w_k p_k(x)^2, p_k random polynomials with p_k(0) = 0 (0 .. max_cross of them)

so V(0) = 0, V > 0 elsewhere (the proper part alone is positive definite) and V -> oo at infinity. Then the system:

    f_i = -h_i(x)^2 dV/dx_i                     on a random subset S of the coordinates
    f_i += g(x) dV/dx_j, f_j -= g(x) dV/dx_i     for random pairs (i, j): a rotation, orthogonal to grad V

so V' = grad V . f = -sum_{i in S} h_i^2 (dV/dx_i)^2 <= 0, exactly, and f(0) = 0 since grad V(0) = 0.

The non-polynomial configuration (the paper's second data set) keeps this skeleton and adds, as the paper does:
cross polynomials and the h_i, g built from sin, cos, exp of the variables (not only x_j itself); cross terms
1 - cos(p) instead of p^2; and V = phi(W) or W * m(x) for the polynomial-style W above, with

    log(1 + W), sqrt(1 + W) - 1, exp(W) - 1   increasing, 0 at 0, unbounded: V keeps all three properties of W
    W * exp(q^2), W * (2 + sin q), W * (2 + cos q)   the factor is >= 1, so V >= W: still positive, unbounded

(the paper's log(1 + x), sqrt(1 + x) and 1 + sin, 1 + cos are shifted here so V(0) = 0 exactly and V > 0 strictly).

Forward generation draws random polynomial systems (`random_system`) for an SOS search to solve; at most
`max_terms` monomials per equation, as in the paper's code (`lyap_max_n_term_fwd`, "in each equation").

Everything is deterministic from an integer seed (a numpy Generator; sympy's global random is never used).
"""
import dataclasses
import math

import numpy as np
import sympy

from problems.lyapunov import variables

GEOMETRIC = 1.5  # P(k) ~ exp(-1.5 k): the paper's bias towards few gradient terms and few rotations (lyap_gen_weight)


def _identity(u):
    return u


# Factors of non-polynomial expressions, as the paper's (its ln(1 + x) is left out: V and f must be defined everywhere).
UNARIES = (_identity, _identity, sympy.sin, sympy.cos, sympy.exp)


@dataclasses.dataclass
class BackwardConfig:
    polynomial: bool = True
    min_equations: int = 2
    max_equations: int | None = None  # None: 5 for polynomial systems, 3 otherwise (the paper's)
    proper_degree: int = 2  # d_i in 1 .. proper_degree: proper part of degree 2 .. 2 * proper_degree
    cross_degree: int = 2  # degree of the cross polynomials p_k (V gets p_k^2)
    max_cross: int = 2  # 0 .. max_cross cross terms
    h_degree: int = 1  # degree of h_i (f gets h_i^2, with a constant term allowed)
    g_degree: int = 2  # degree of the rotation factors g
    max_terms: int = 3  # monomials in each random polynomial (p_k, h_i, g)
    coefficients: int = 3  # integers in -coefficients .. coefficients; what gets squared stays within +-sqrt of it
    max_equation_size: int = 200  # most tokens (see `size`) in one equation; larger draws are resampled
    max_function_size: int = 150  # most tokens in V
    max_tries: int = 200  # draws per seed before giving up

    def __post_init__(self):
        if self.max_equations is None:
            self.max_equations = 5 if self.polynomial else 3
        if not 1 <= self.min_equations <= self.max_equations:
            raise ValueError(f"need 1 <= min_equations <= max_equations, got {self.min_equations}, {self.max_equations}")


POLYNOMIAL = BackwardConfig()
NON_POLYNOMIAL = BackwardConfig(polynomial=False)


@dataclasses.dataclass
class BackwardSample:
    """A pair and the pieces it was built from: V' = -sum_i h[i]^2 (dV/dx_i)^2 exactly."""
    system: tuple
    V: sympy.Expr
    h: dict  # coordinate -> h_i
    rotations: list  # (i, j, g)


# ----------------------------------------------------------------------------- sizes


def size(expr):
    """Prefix-token length proxy: an n-ary sum or product counts n - 1 operators, an integer its sign and base-1000
    digits, a rational both integers and '/'."""
    if expr.is_Integer:
        k, digits = abs(int(expr)) // 1000, 1
        while k:
            k, digits = k // 1000, digits + 1
        return 1 + digits
    if expr.is_Rational:
        return 1 + size(sympy.Integer(expr.p)) + size(sympy.Integer(expr.q))
    if not expr.args:
        return 1  # a symbol or a constant such as pi
    operators = len(expr.args) - 1 if expr.is_Add or expr.is_Mul else 1
    return operators + sum(size(a) for a in expr.args)


# ----------------------------------------------------------------------------- random pieces


def _integer(rng, bound):
    """A non-zero integer in -bound .. bound."""
    k = int(rng.integers(1, bound + 1))
    return k if rng.random() < 0.5 else -k


def _small(bound):
    """Bound for what will be squared, so the square's coefficients stay near `bound` (the paper's sqrt(max_int))."""
    return max(1, round(math.sqrt(bound)))


def _geometric(rng, low, high):
    """An integer in low .. high, small ones favoured."""
    weights = np.exp(-GEOMETRIC * np.arange(high - low + 1))
    return low + int(rng.choice(len(weights), p=weights / weights.sum()))


def _monomial(rng, n, degree):
    """Exponents of a monomial: total degree uniform in 1 .. degree, then each factor a uniform variable."""
    d = int(rng.integers(1, degree + 1))
    return tuple(int(e) for e in np.bincount(rng.integers(n, size=d), minlength=n))


def _polynomial(rng, xs, terms, degree, bound, constant=False, functions=False):
    """A random non-zero polynomial: 1 .. terms monomials of degree 1 .. degree (plus a constant, when allowed), non-zero
    integer coefficients in -bound .. bound. With functions, each factor x_j becomes u(x_j), u drawn from UNARIES: a
    polynomial in x_j, sin x_j, cos x_j, exp x_j."""
    while True:
        expr = sympy.Integer(0)
        for _ in range(int(rng.integers(1, terms + 1))):
            if constant and rng.random() < 1 / (degree + 1):
                expr += _integer(rng, bound)
                continue
            factors = []
            for x, e in zip(xs, _monomial(rng, len(xs), degree)):
                for _ in range(e):
                    u = UNARIES[int(rng.integers(len(UNARIES)))] if functions else _identity
                    factors.append(u(x))
            expr += _integer(rng, bound) * sympy.Mul(*factors)
        if expr != 0:
            return expr


def _at_zero(expr, xs):
    return expr.subs({x: 0 for x in xs})


# ----------------------------------------------------------------------------- V


def proper_part(rng, xs, config):
    """sum_i c_i x_i^(2 d_i) or z^T P z, z_i = x_i^(d_i): positive definite and radially unbounded."""
    z = [x ** int(rng.integers(1, config.proper_degree + 1)) for x in xs]
    if rng.random() < 0.5:
        return sum(int(rng.integers(1, config.coefficients + 1)) * zi**2 for zi in z)
    n = len(xs)
    a = rng.integers(-1, 2, size=(n, n))
    p = a.T @ a + np.diag(rng.integers(1, config.coefficients + 1, size=n))  # A^T A >= 0, + a positive diagonal
    p //= np.gcd.reduce(p.ravel())
    return sympy.expand(sum(int(p[i, j]) * z[i] * z[j] for i in range(n) for j in range(n)))


def cross_part(rng, xs, config):
    """sum_k w_k p_k^2 (or w_k (1 - cos p_k), non-polynomial), p_k(0) = 0: non-negative, 0 at 0."""
    total = sympy.Integer(0)
    functions = not config.polynomial
    for _ in range(int(rng.integers(0, config.max_cross + 1))):
        p = _polynomial(rng, xs, config.max_terms, config.cross_degree, _small(config.coefficients), functions=functions)
        p -= _at_zero(p, xs)  # cos(0) = exp(0) = 1: shift so that p(0) = 0
        if p == 0:
            continue
        w = int(rng.integers(1, _small(config.coefficients) + 1))
        total += w * (1 - sympy.cos(p) if functions and rng.random() < 0.25 else p**2)
    return total


def _positive_factor(rng, xs, config):
    """m(x) >= 1 everywhere, so W * m keeps W's positivity and growth."""
    q = _polynomial(rng, xs, config.max_terms, config.cross_degree, _small(config.coefficients))
    kind = int(rng.integers(3))
    return (sympy.exp(q**2), 2 + sympy.sin(q), 2 + sympy.cos(q))[kind]


def lyapunov_function(rng, xs, config):
    """V = W = proper + cross part; non-polynomial: phi(W) for phi one of log(1 + .), sqrt(1 + .) - 1, exp(.) - 1 (1/2 in
    all), W * m with m >= 1 (1/6), or W itself (1/3; its cross part or f may still be non-polynomial)."""
    w = proper_part(rng, xs, config) + cross_part(rng, xs, config)
    if config.polynomial:
        return sympy.expand(w)
    kind = int(rng.integers(6))
    if kind == 0:
        return sympy.log(1 + w)
    if kind == 1:
        return sympy.sqrt(1 + w) - 1
    if kind == 2:
        return sympy.exp(w) - 1
    if kind == 3:
        return w * _positive_factor(rng, xs, config)
    return w  # kinds 4, 5: W itself (still non-polynomial when its cross part is)


# ----------------------------------------------------------------------------- f


def _cover(rng, n, gradient):
    """Rotation pairs: one for each coordinate outside the gradient subset (so no equation is left 0), then a few more."""
    pairs = []
    touched = set(gradient)
    for j in rng.permutation(n):
        j = int(j)
        if j not in touched:
            i = int(rng.choice([k for k in range(n) if k != j]))
            pairs.append((i, j))
            touched.update((i, j))
    for _ in range(_geometric(rng, 0, n - 1)):
        i, j = (int(k) for k in rng.choice(n, size=2, replace=False))
        pairs.append((i, j))
    return pairs


def dynamics(rng, xs, grad, config):
    """f from grad V: -h_i^2 dV/dx_i on a random subset of coordinates, plus rotations g (dV/dx_j, -dV/dx_i)."""
    n = len(xs)
    functions = not config.polynomial
    gradient = [int(i) for i in rng.permutation(n)[:_geometric(rng, 1, n)]]
    f = [sympy.Integer(0)] * n
    h = {}
    for i in gradient:
        h[i] = _polynomial(rng, xs, config.max_terms, config.h_degree, _small(config.coefficients), constant=True,
                           functions=functions)
        f[i] -= h[i] ** 2 * grad[i]
    rotations = []
    for i, j in _cover(rng, n, gradient):
        g = _polynomial(rng, xs, config.max_terms, config.g_degree, config.coefficients, constant=True,
                        functions=functions)
        f[i] += g * grad[j]
        f[j] -= g * grad[i]
        rotations.append((i, j, g))
    # Polynomial systems are expanded, as the paper's; expanding the others multiplies their size by 3 to 20 (exp,
    # sin, cos of sums, quotients by 1 + W), so they keep the form -h_i^2 dV/dx_i + g dV/dx_j.
    return tuple(sympy.expand(e) if config.polynomial else e for e in f), h, rotations


def _coupled(system, xs):
    """Some equation involves another coordinate than its own: a decoupled system is n one-dimensional problems."""
    return any(e.free_symbols - {x} for x, e in zip(xs, system))


def _is_zero(expr, xs):
    """Exactly 0 (polynomials are expanded); otherwise 0 at two points and after expansion."""
    if expr == 0:
        return True
    points = ({x: 0.37 + 0.29 * k for k, x in enumerate(xs)}, {x: -0.61 + 0.43 * k for k, x in enumerate(xs)})
    if any(abs(complex(expr.evalf(subs=p))) > 1e-9 for p in points):
        return False
    return sympy.expand(expr) == 0


def _draw(rng, config):
    """One attempt; None when the draw is rejected (an equation 0, decoupled, not what the configuration asks, too big)."""
    xs = variables(int(rng.integers(config.min_equations, config.max_equations + 1)))
    v = lyapunov_function(rng, xs, config)
    if size(v) > config.max_function_size:
        return None
    grad = [sympy.expand(sympy.diff(v, x)) if config.polynomial else sympy.diff(v, x) for x in xs]
    system, h, rotations = dynamics(rng, xs, grad, config)
    if any(size(e) > config.max_equation_size for e in system):
        return None
    if any(_is_zero(e, xs) for e in system) or not _coupled(system, xs):
        return None
    if not config.polynomial and all(e.is_polynomial(*xs) for e in (v, *system)):
        return None  # the non-polynomial data set holds only non-polynomial pairs
    return BackwardSample(system, v, h, rotations)


# ----------------------------------------------------------------------------- API


def backward_sample(seed, config=POLYNOMIAL):
    """The pair for this seed, with its pieces."""
    rng = np.random.default_rng(seed)
    for _ in range(config.max_tries):
        sample = _draw(rng, config)
        if sample is not None:
            return sample
    raise RuntimeError(f"seed {seed}: no pair within the size limits in {config.max_tries} draws; raise the limits")


def backward_pair(seed, config=POLYNOMIAL):
    """(system, V) for this seed: V(0) = 0, V > 0 elsewhere, V -> oo, grad V . f <= 0 everywhere, f(0) = 0."""
    sample = backward_sample(seed, config)
    return sample.system, sample.V


def backward_pairs(seeds, config=POLYNOMIAL):
    """The pairs of many seeds, in order: a chunk of a data set (run chunks in parallel, one seed range each)."""
    return [backward_pair(int(seed), config) for seed in seeds]


def random_system(seed, n, max_terms=5, max_degree=3, coefficients=3):
    """A random polynomial system in n variables for forward generation and discovery: each equation has 1 .. max_terms
    distinct monomials of degree 1 .. max_degree (no constant, so f(0) = 0) with non-zero integer coefficients in
    -coefficients .. coefficients; the paper's code bounds the terms per equation, so does this."""
    rng = np.random.default_rng(seed)
    xs = variables(n)
    available = math.comb(n + max_degree, max_degree) - 1  # monomials of degree 1 .. max_degree
    system = []
    for _ in range(n):
        monomials = set()
        for _ in range(min(int(rng.integers(1, max_terms + 1)), available)):
            while (m := _monomial(rng, n, max_degree)) in monomials:
                pass
            monomials.add(m)
        terms = [_integer(rng, coefficients) * sympy.Mul(*(x**e for x, e in zip(xs, m))) for m in sorted(monomials)]
        system.append(sympy.Add(*terms))
    return tuple(system)
