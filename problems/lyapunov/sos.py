"""The SOS baseline the model must beat (findlyap / SOSTOOLS style): search a polynomial Lyapunov function.

For d = 2, then 4: V = sum of v_m m over the monomials m of degree 2 .. d (no constant, as V(0) = 0; no linear
terms, which a positive definite V cannot have), and one SDP in the unknown coefficients v, Gram matrices Q, R and
phi's weights c: V - phi = z'Qz and -dV/dt = w'Rw with Q, R PSD, phi = sum c_ij x_i^(2j), c >= 0, sum_j c_ij >=
epsilon. The SDP's V is normalised, rounded to rationals (small denominators first), and returned only if
verify() - the independent, exact check - says `valid`. The solver's "optimal" alone proves nothing.
"""
from fractions import Fraction

import numpy as np
import sympy

from problems.lyapunov import verify as judge

DENOMINATORS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 32, 64, 100, 1000, 10**4, 10**6)


def find_lyapunov(system, degrees=(2, 4), epsilon=judge.EPSILON):
    """A rational polynomial V that verify() proves valid for the system, or None (non-polynomial system, or no
    V of these degrees found)."""
    try:
        xs, fs, _ = judge.parse(system, 0)
    except (judge.Unparsable, judge.BadSystem):
        return None
    fps = [judge.poly_dict(f, xs) for f in fs]
    if any(fp is None for fp in fps):
        return None
    for degree in degrees:
        found = template_sdp(fps, len(xs), degree, epsilon)
        if found is None:
            continue
        for V in roundings(*found, xs):
            if judge.verify(system, V, epsilon).status == "valid":
                return V
    return None


def template_sdp(fps, n, degree, epsilon=judge.EPSILON):
    """The SDP's V for this degree as (coefficients, monomials), or None if the solvers find none.

    Maximises the margins tQ + tR (Q - tQ I and R - tR I PSD, 0 <= t <= 1) with |v| <= 1: an interior V, whose
    rounding is likelier to stay a Lyapunov function than a V on the boundary of the feasible set.
    """
    import cvxpy as cp
    template = judge.monomials(n, 2, degree)
    groups = judge.square_groups(n, degree)
    flat = [s for group in groups for s in group]
    drifts = [judge.lie_derivative({m: Fraction(1)}, fps) for m in template]  # dm/dt for each monomial m of V
    support = set().union(*drifts)
    v = cp.Variable(len(template))
    c = cp.Variable(len(flat), nonneg=True)
    tQ, tR = cp.Variable(), cp.Variable()
    z = judge.monomials(n, 1, degree // 2)
    Q = cp.Variable((len(z), len(z)), symmetric=True)
    rows = sorted(set(judge.gram_entries(z)) | set(template) | set(flat))
    constraints = [judge.constraint_matrix(rows, z) @ cp.vec(Q, order="F") + _indicator(rows, flat) @ c
                   == _indicator(rows, template) @ v,  # V - phi = z'Qz
                   Q - tQ * np.eye(len(z)) >> 0, v >= -1, v <= 1, tQ >= 0, tQ <= 1, tR >= 0, tR <= 1]
    start = 0
    for group in groups:
        constraints.append(cp.sum(c[start:start + len(group)]) >= float(epsilon))
        start += len(group)
    w = judge.gram_basis(support, support, n)
    rows = sorted(set(judge.gram_entries(w)) | support)
    G = np.array([[-float(d.get(m, 0)) for d in drifts] for m in rows]).reshape(len(rows), len(template))
    if w:  # -dV/dt = w'Rw
        R = cp.Variable((len(w), len(w)), symmetric=True)
        constraints += [judge.constraint_matrix(rows, w) @ cp.vec(R, order="F") == G @ v, R - tR * np.eye(len(w)) >> 0]
    elif rows:  # no Gram basis: dV/dt must vanish
        constraints.append(G @ v == 0)
    problem = cp.Problem(cp.Maximize(tQ + tR), constraints)
    for _ in judge.solve(problem):
        return v.value, template
    return None


def _indicator(rows, monos):
    """The sparse 0/1 matrix placing each monomial of monos on its row."""
    from scipy import sparse
    index = {m: r for r, m in enumerate(rows)}
    return sparse.csr_matrix((np.ones(len(monos)), ([index[m] for m in monos], range(len(monos)))),
                             shape=(len(rows), len(monos)))


def roundings(values, template, xs):
    """V scaled to largest coefficient 1 (scaling up keeps V - phi and -dV/dt SOS), then rounded to k/D for each
    D in DENOMINATORS: distinct sympy expressions, simplest first."""
    values = np.asarray(values, dtype=float)
    if not np.abs(values).max() > 0:
        return
    values = values / np.abs(values).max()
    seen = set()
    for denominator in DENOMINATORS:
        coefficients = tuple(Fraction(round(x * denominator), denominator) for x in values)
        if coefficients in seen or not any(coefficients):
            continue
        seen.add(coefficients)
        yield sympy.Add(*(sympy.Rational(q.numerator, q.denominator) * sympy.Mul(*(x**e for x, e in zip(xs, m)))
                          for q, m in zip(coefficients, template) if q))
