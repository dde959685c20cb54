"""The Lyapunov verifier: is V a Lyapunov function for x' = f(x), with f(0) = 0, on all of R^n?

verify(system, V) never trusts the search that proposed V, nor the SDP solver that helped certify it. Polynomial
V and f (rational coefficients; a float coefficient is read as the exact rational of its binary value) get a
proof; anything else (exp, log, sqrt, sin, rational functions, irrational constants) gets a numerical check.

What each status means (Verdict.proof says whether the verdict is proven exactly):

    valid           proven: V(0) = 0; V(x) - phi(x) = z'Qz and -dV/dt(x) = -grad V(x).f(x) = w'Rw hold as exact
                    polynomial identities over the rationals, with Q and R rational and PSD by an exact LDL' in
                    integer arithmetic; phi = sum_i sum_j c_ij x_i^(2j) with rationals c_ij >= 0 and
                    sum_j c_ij >= epsilon for every i (for a quadratic V, phi = epsilon |x|^2). Hence, for all x,
                    V(x) >= epsilon * min(|x|_inf^2, |x|_inf^deg V) (V is positive definite and radially
                    unbounded) and dV/dt(x) <= 0: the origin is globally stable in the sense of Lyapunov (not
                    necessarily asymptotically stable). The certificate is in Verdict.certificate;
                    check_certificate() re-checks it from scratch.
    valid_numeric   a check, not a proof: V(0) = 0 exactly, V > 0 and dV/dt <= 0 (up to rounding) at a few thousand
                    seeded samples and local minimisations in the box [-radius, radius]^n, and the minimum of V on
                    spheres keeps growing up to radius 100 * radius.
    not_positive    with proof=True: an exact counterexample, V(0) != 0 or V(p) <= 0 at a rational p != 0 (in
                    point and detail). With proof=False: no certificate of V >= phi was found (the SDP is
                    infeasible or its rounding failed the exact check), or for non-polynomial V a sample with V <= 0
                    or V undefined; not a proof that V is not positive definite.
    not_proper      V looks positive definite but not radially unbounded: numerical evidence only (proof=False);
                    the minimum of V on spheres stops growing. For a polynomial V this is reported only when the
                    certificate of V >= phi failed and no counterexample to positivity was found.
    not_decreasing  as not_positive, for dV/dt <= 0: proof=True with an exact rational p where dV/dt(p) > 0;
                    otherwise no certificate of -dV/dt SOS was found, or (non-polynomial) a sample with dV/dt > 0
                    or undefined: not a proof.
    unparsable      V is not a real expression in the system's variables x0 .. x{n-1} (other symbols, x_n or
                    beyond, not a sympy expression, nan/oo/I inside). Symbols named x0 .. x{n-1} with other
                    assumptions are taken as the system's variables.
    error           the system is not one (f(0) != 0, not expressions in variables(n)), or an unexpected
                    exception (its one-line description); verify() never raises.
    timeout         never returned here: the engine's label for a call it had to kill.
"""
import math
import time
import warnings
from dataclasses import dataclass
from fractions import Fraction
from itertools import combinations, combinations_with_replacement

import numpy as np
import sympy

from problems.lyapunov import MAX_VARIABLES, variables

STATUSES = ("valid", "valid_numeric", "not_positive", "not_proper", "not_decreasing", "unparsable", "error",
            "timeout")
EPSILON = Fraction(1, 1000)
RADIUS = 10.0
SEED = 0
DENOMINATORS = (10**3, 10**6, 10**9)  # Gram roundings tried in turn: coarse first, for small certificates
FACE_TRIES = 12  # face SDPs per certificate, then "no certificate found" (a count, not a time: determinism)


@dataclass(frozen=True)
class Verdict:
    status: str  # one of STATUSES
    detail: str  # one line
    seconds: float = 0.0
    proof: bool = False  # the verdict is proven exactly (a checked certificate, or an exact counterexample)
    point: tuple | None = None  # the counterexample or failing sample, if any (Fractions when exact)
    certificate: dict | None = None  # valid only: what check_certificate() re-checks


class Unparsable(Exception):
    pass


class BadSystem(Exception):
    pass


def verify(system, V, epsilon=EPSILON, radius=RADIUS):
    """The verdict on V for x' = f(x) (system = (f_0, .., f_{n-1})); see the module docstring for what it proves."""
    start = time.perf_counter()
    try:
        verdict = _verify(system, V, _rational(epsilon), float(radius))
    except Unparsable as e:
        verdict = Verdict("unparsable", str(e))
    except BadSystem as e:
        verdict = Verdict("error", f"system: {e}")
    except Exception as e:  # noqa: BLE001 - the verifier is the judge: it reports, never raises
        verdict = Verdict("error", _one_line(f"{type(e).__name__}: {e}"))
    return Verdict(verdict.status, verdict.detail, time.perf_counter() - start, verdict.proof, verdict.point,
                   verdict.certificate)


def _verify(system, V, epsilon, radius):
    if epsilon <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    xs, fs, V = parse(system, V)
    Vp, fps = poly_dict(V, xs), [poly_dict(f, xs) for f in fs]
    if Vp is not None and all(fp is not None for fp in fps):
        return _verify_polynomial(Vp, fps, len(xs), epsilon, radius)
    return _verify_numeric(xs, fs, V, radius)


# ----------------------------------------------------------------------------------------------------- parsing

def parse(system, V):
    """(variables, f, V) as sympy, or Unparsable (V's fault) / BadSystem (the system's)."""
    if isinstance(system, (str, bytes)) or not hasattr(system, "__len__"):
        raise BadSystem(f"expected a tuple of sympy expressions, got {type(system).__name__}")
    n = len(system)
    if not 1 <= n <= MAX_VARIABLES:
        raise BadSystem(f"{n} equations, expected 1 .. {MAX_VARIABLES}")
    xs = variables(n)
    try:
        fs = [_expression(f, xs) for f in system]
    except Unparsable as e:
        raise BadSystem(str(e)) from None
    for f in fs:
        at_zero = f.subs({x: 0 for x in xs})
        if at_zero != 0 and not (at_zero.is_number and abs(complex(at_zero)) < 1e-12):
            raise BadSystem(f"f(0) = {at_zero} != 0: the origin is not an equilibrium")
    return xs, fs, _expression(V, xs)


def _expression(e, xs):
    """e as a real sympy expression in xs (symbols matched by name), else Unparsable."""
    try:
        e = sympy.sympify(e, strict=True)  # numbers yes, strings no: parsing text is expressions.py's job
    except (sympy.SympifyError, TypeError):
        raise Unparsable(f"not a sympy expression: {type(e).__name__}") from None
    if not isinstance(e, sympy.Expr):
        raise Unparsable(f"not a sympy expression: {type(e).__name__}")
    by_name = {x.name: x for x in xs}
    others = sorted(s.name for s in e.free_symbols if s.name not in by_name)
    if others:
        raise Unparsable(f"symbols {', '.join(others)} are not among {', '.join(by_name)}")
    e = e.xreplace({s: by_name[s.name] for s in e.free_symbols})
    if e.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo, sympy.I):
        raise Unparsable(f"not a real expression: {_one_line(str(e))}")
    return e


def poly_dict(e, xs):
    """e as {exponent tuple: Fraction} if it is a polynomial in xs with rational coefficients, else None."""
    floats = e.atoms(sympy.Float)
    if floats:  # exact binary value: the proof is about the V given, not a rounded one
        e = e.xreplace({x: sympy.Rational(x) for x in floats})
    if not e.is_polynomial(*xs):
        return None
    p = sympy.Poly(e, *xs)
    if not (p.domain.is_ZZ or p.domain.is_QQ):
        return None
    return {m: Fraction(int(c.p), int(c.q)) for m, c in p.terms() if c != 0}


# ----------------------------------------------------------------------------------- exact polynomial arithmetic

def _add(a, b):
    return tuple(i + j for i, j in zip(a, b))


def _diff(p, i):
    out = {}
    for m, c in p.items():
        if m[i]:
            out[m[:i] + (m[i] - 1,) + m[i + 1:]] = c * m[i]
    return out


def _mul(p, q):
    out = {}
    for m1, c1 in p.items():
        for m2, c2 in q.items():
            m = _add(m1, m2)
            out[m] = out.get(m, 0) + c1 * c2
    return {m: c for m, c in out.items() if c != 0}


def _lin(*terms):
    """sum of coefficient * polynomial, zeros dropped."""
    out = {}
    for coef, p in terms:
        for m, c in p.items():
            out[m] = out.get(m, 0) + coef * c
    return {m: c for m, c in out.items() if c != 0}


def lie_derivative(Vp, fps):
    """dV/dt = grad V . f, exactly."""
    return _lin(*((1, _mul(_diff(Vp, i), fp)) for i, fp in enumerate(fps)))


def evaluate(p, point):
    """p at a rational point, exactly."""
    total = Fraction(0)
    for m, c in p.items():
        term = c
        for x, e in zip(point, m):
            if e:
                term *= x ** e
        total += term
    return total


def _degree(p):
    return max((sum(m) for m in p), default=0)


def _float_fn(p, n):
    """p as a vectorised float function of an (m, n) array."""
    if not p:
        return lambda X: np.zeros(len(X))
    exps = np.array(list(p), dtype=float).reshape(len(p), n)
    coefs = np.array([float(c) for c in p.values()])

    def value(X):
        with np.errstate(over="ignore", invalid="ignore"):  # far samples overflow to inf: the callers expect it
            return np.prod(X[:, None, :] ** exps[None], axis=2) @ coefs
    return value


# -------------------------------------------------------------------------------------- Gram matrices, exactly

def monomials(n, lo, hi):
    """Exponent tuples of total degree lo .. hi, in a fixed order."""
    out = []
    for d in range(max(lo, 0), hi + 1):
        for combo in combinations_with_replacement(range(n), d):
            out.append(tuple(combo.count(i) for i in range(n)))
    return out


def gram_basis(support, nonzero, n):
    """Monomials z for p = z'Qz, p supported on `support`, with p's coefficient possibly nonzero on `nonzero`.

    Bounds from the Newton polytope (half the degree range, half each variable's exponent range), then the
    diagonal-consistency pruning: if x^(2a) has a zero coefficient and is no product of two other basis
    monomials, Q_aa = 0 for every PSD Q, so z_a goes. Without this a Gram matrix is forced singular, and its
    rounding would not be PSD.
    """
    if not support:
        return []
    degrees = [sum(m) for m in support]
    lo_e = [math.ceil(min(m[i] for m in support) / 2) for i in range(n)]
    hi_e = [max(m[i] for m in support) // 2 for i in range(n)]
    basis = [a for a in monomials(n, math.ceil(min(degrees) / 2), max(degrees) // 2)
             if all(lo_e[i] <= a[i] <= hi_e[i] for i in range(n))]
    while True:
        sums = {_add(a, b) for a, b in combinations(basis, 2)}
        keep = [a for a in basis if _add(a, a) in nonzero or _add(a, a) in sums]
        if len(keep) == len(basis):
            return basis
        basis = keep


def gram_entries(basis):
    """{monomial: [(i, j), ..]}: the ordered entries of Q that z'Qz adds up into each monomial."""
    entries = {}
    for i, a in enumerate(basis):
        for j, b in enumerate(basis):
            entries.setdefault(_add(a, b), []).append((i, j))
    return entries


def gram_polynomial(basis, Q):
    """z'Qz as {monomial: coefficient}, exactly."""
    return {m: s for m, ij in gram_entries(basis).items() if (s := sum(Q[i][j] for i, j in ij)) != 0}


def project_gram(Q, basis, p):
    """The Peyrl-Parrilo step: the nearest (Frobenius) matrix to Q with z'Qz = p exactly, or None if none exists.

    Each monomial's constraint touches its own entries, so the projection spreads each residual evenly over them.
    """
    entries = gram_entries(basis)
    if any(m not in entries for m in p):
        return None
    Q = [list(row) for row in Q]
    for m, ij in entries.items():
        delta = (p.get(m, 0) - sum(Q[i][j] for i, j in ij)) / len(ij)
        if delta:
            for i, j in ij:
                Q[i][j] += delta
    return Q


def psd_pivots(matrix):
    """Exact PSD test of a rational matrix: the LDL' pivots (all >= 0) if it is symmetric PSD, else None.

    Fraction-free (Bareiss) elimination of the integer matrix scaled by the common denominator: every division is
    exact, and a zero pivot needs a zero row (that row and column are then dropped).
    """
    rows = [[Fraction(x) for x in row] for row in matrix]
    k = len(rows)
    if any(len(row) != k for row in rows) or any(rows[i][j] != rows[j][i] for i in range(k) for j in range(i)):
        return None
    scale = math.lcm(*(x.denominator for row in rows for x in row)) if k else 1
    a = [[int(x * scale) for x in row] for row in rows]
    pivots, prev, live = [], 1, list(range(k))
    while live:
        p = live.pop(0)
        d = a[p][p]
        if d < 0 or (d == 0 and any(a[p][j] for j in live)):
            return None
        if d == 0:
            pivots.append(Fraction(0))
            continue
        for ii, i in enumerate(live):
            for j in live[ii:]:
                a[i][j], rest = divmod(d * a[i][j] - a[i][p] * a[p][j], prev)
                if rest:  # cannot happen (Bareiss); if it did, claim nothing
                    return None
                a[j][i] = a[i][j]
        pivots.append(Fraction(d, prev * scale))
        prev = d
    return pivots


def check_gram(p, basis, Q):
    """The PSD pivots if z'Qz = p exactly and Q is PSD exactly, else None: a check that trusts no solver."""
    if len(Q) != len(basis) or gram_polynomial(basis, Q) != {m: c for m, c in p.items() if c != 0}:
        return None
    return psd_pivots(Q)


def _round(matrix, denominator):
    """A float matrix, symmetrised, as rationals with this denominator."""
    M = np.asarray(matrix, dtype=float)
    M = (M + M.T) / 2
    return [[Fraction(round(x * denominator), denominator) for x in row] for row in M]


# --------------------------------------------------------------------------------------------------- the SDPs

def solve(problem):
    """Clarabel, then SCS where Clarabel fails or is unsure. Yields (solver, status) for each solution to try."""
    scs = {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 5000}  # a fallback, bounded by work (not time: determinism)
    for solver, options in (("CLARABEL", {}), ("SCS", scs)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                problem.solve(solver=solver, **options)
        except (KeyboardInterrupt, SystemExit):
            raise
        # A solver failure, including a Rust panic in Clarabel ("Eigval error" on some ill-conditioned programmes;
        # pyo3's PanicException is a BaseException), means: try the next solver.
        except BaseException:  # noqa: BLE001, S112
            continue
        status = problem.status
        if status in ("optimal", "optimal_inaccurate"):
            yield solver.lower(), status
        if status in ("infeasible", "unbounded"):  # a confident answer: no second opinion needed
            return


def constraint_matrix(rows, basis):
    """Sparse A with A @ vec(Q, 'F') = the coefficients of z'Qz on `rows` (monomials)."""
    from scipy import sparse
    index = {m: r for r, m in enumerate(rows)}
    k = len(basis)
    r, c = [], []
    for m, ij in gram_entries(basis).items():
        for i, j in ij:
            r.append(index[m])
            c.append(i + j * k)
    return sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(rows), k * k))


def gram_sdp(p, basis, squares=(), epsilon=EPSILON):
    """Numerical Gram matrices: maximise t with z'Qz = p - sum c_s s, Q - tI PSD, c >= 0, sum over each group >= eps.

    squares: groups of monomials (one group per variable: x_i^2, x_i^4, ..) whose coefficients c the SDP chooses.
    Maximising the margin t keeps Q inside the PSD cone, so that its rounding stays PSD. Yields (Q, c, solver, t).
    """
    import cvxpy as cp
    flat = [s for group in squares for s in group]
    rows = sorted(set(gram_entries(basis)) | set(p) | set(flat))
    k = len(basis)
    Q, t = cp.Variable((k, k), symmetric=True), cp.Variable()
    lhs = constraint_matrix(rows, basis) @ cp.vec(Q, order="F")
    constraints = [Q - t * np.eye(k) >> 0, t <= max(float(abs(c)) for c in p.values())]
    c = None
    if flat:
        from scipy import sparse
        c = cp.Variable(len(flat), nonneg=True)
        B = sparse.csr_matrix((np.ones(len(flat)), ([rows.index(s) for s in flat], range(len(flat)))),
                              shape=(len(rows), len(flat)))
        lhs = lhs + B @ c
        start = 0
        for group in squares:
            constraints.append(cp.sum(c[start:start + len(group)]) >= float(epsilon))
            start += len(group)
    b = np.array([float(p.get(m, 0)) for m in rows])
    problem = cp.Problem(cp.Maximize(t), [lhs == b, *constraints])
    for solver, _ in solve(problem):
        yield Q.value, (c.value if c is not None else None), solver, float(t.value)


# -------------------------------------------------------------------------------------------- the certificates

def square_groups(n, degree):
    """phi's monomials, grouped by variable: x_i^2, x_i^4, .., x_i^(2k) with 2k <= degree."""
    return [[tuple(2 * j if v == i else 0 for v in range(n)) for j in range(1, degree // 2 + 1)] for i in range(n)]


def _exact_gram(p, basis, Q):
    """Round Q, restore z'Qz = p exactly and test PSD exactly: (rational Q, pivots) or None."""
    for denominator in DENOMINATORS:
        Qr = project_gram(_round(Q, denominator), basis, p)
        pivots = None if Qr is None else check_gram(p, basis, Qr)
        if pivots is not None:
            return Qr, pivots
    return None


def _rref(rows, width):
    """Exact reduced row echelon form of sparse rows ({column: Fraction}): (rows, pivot columns), in order."""
    done, pivots = [], []
    for col in range(width):
        r = next((r for r in rows if r.get(col)), None)
        if r is None:
            continue
        rows = [x for x in rows if x is not r]
        inv = 1 / r[col]
        r = {c: v * inv for c, v in r.items()}
        rows = [_axpy(x, -x[col], r) if x.get(col) else x for x in rows]
        done = [_axpy(x, -x[col], r) if x.get(col) else x for x in done]
        done.append(r)
        pivots.append(col)
    return done, pivots


def _axpy(x, a, y):
    out = dict(x)
    for c, v in y.items():
        w = out.get(c, 0) + a * v
        if w:
            out[c] = w
        else:
            out.pop(c, None)
    return out


def _reduce(p, basis, Q, budget, depth=8):
    """Facial reduction, for Gram matrices that every solution makes singular (p has real zeros, or zeros at
    infinity): such a Q cannot be rounded into the PSD cone, but restricted to its range, Q = C'Q'C with Q' positive
    definite, it can. Each step guesses a rational kernel below a spectral gap of the SDP's Q, solves the SDP again
    on that face, and repeats while Q' is still singular; then rounds Q' exactly on the face. A wrong guess costs
    time, not truth: the exact check fails. Returns (rational Q, pivots) or None.
    """
    C = [{i: Fraction(1)} for i in range(len(basis))]
    for _ in range(depth):
        for step in _faces(Q):
            if budget[0] <= 0:
                return None
            budget[0] -= 1
            composed = [_compose(row, C) for row in step]
            system = _face_system(p, basis, composed)
            Qface = None if system is None else _face_sdp(p, *system)
            if Qface is not None:
                C, Q = composed, Qface
                break
        else:
            return None
        w = np.linalg.eigvalsh(Q)
        if w[0] > 1e-7 * w[-1]:  # positive definite on this face: round here
            return _face_exact(p, basis, C, *system, Q)
    return None


def _faces(Q):
    """Candidate faces: rational rows C, Q ~ C'Q'C, for each kernel dimension below a spectral gap of Q."""
    w, U = np.linalg.eigh((np.asarray(Q) + np.asarray(Q).T) / 2)
    top, k, seen = max(w[-1], 1e-300), len(w), []
    for dim in range(1, k):
        if w[dim - 1] > 1e-3 * top:
            break
        if w[dim] < 100 * max(abs(w[dim - 1]), 1e-12 * top):  # no gap after the first dim eigenvalues
            continue
        K, R = _float_echelon(U[:, :dim].T.copy()), _float_echelon(U[:, dim:].T.copy())
        for limit in (12, 1000):
            direct = _rationals_rows(R, limit)  # the range read directly: rows of nice SOS terms
            N, pivots = _rref(_rationals_rows(K, limit), k)  # or the complement of the kernel
            for C in (direct, [{j: Fraction(1), **{p: -r[j] for r, p in zip(N, pivots) if r.get(j)}}
                               for j in range(k) if j not in pivots]):
                if C and len(C) == k - dim and C not in seen:
                    seen.append(C)
                    yield C


def _rationals_rows(M, limit):
    rows = [{j: q for j, v in enumerate(row) if (q := Fraction(float(v)).limit_denominator(limit))} for row in M]
    return [row for row in rows if row]


def _float_echelon(K):
    """Reduced row echelon form of a float matrix, complete pivoting (entries then at most 1 in size)."""
    for r in range(len(K)):
        i, j = np.unravel_index(np.argmax(np.abs(K[r:])), K[r:].shape)
        K[[r, r + i]] = K[[r + i, r]]
        K[r] /= K[r, j]
        for other in range(len(K)):
            if other != r:
                K[other] -= K[other, j] * K[r]
    return K


def _compose(row, C):
    """A face's row (over the previous face's rows C) over the monomial basis."""
    out = {}
    for a, c in row.items():
        for i, v in C[a].items():
            out[i] = out.get(i, 0) + c * v
    return {i: v for i, v in out.items() if v}


def _face_system(p, basis, C):
    """The linear constraints z'(C'Q'C)z = p on Q' (upper triangle unknowns): (rows, unknowns), None if p has a
    monomial the face cannot make."""
    q = [{basis[i]: c for i, c in row.items()} for row in C]
    unknowns = [(a, b) for a in range(len(C)) for b in range(a, len(C))]
    rows = {}
    for u, (a, b) in enumerate(unknowns):
        for m, c in _mul(q[a], q[b]).items():
            rows.setdefault(m, {})[u] = c * (1 if a == b else 2)
    return None if any(m not in rows for m in p) else (rows, unknowns)


def _face_sdp(p, rows, unknowns):
    """Q' maximising its smallest eigenvalue subject to the face's constraints, or None (infeasible, or < 0)."""
    import cvxpy as cp
    from scipy import sparse
    r = max(b for _, b in unknowns) + 1
    monos = sorted(rows)
    index = {m: i for i, m in enumerate(monos)}
    ri, ci, vals = [], [], []
    for m, row in rows.items():
        for u, c in row.items():
            a, b = unknowns[u]
            for i, j in {(a, b), (b, a)}:
                ri.append(index[m])
                ci.append(i + j * r)
                vals.append(float(c) / (1 if a == b else 2))
    A = sparse.csr_matrix((vals, (ri, ci)), shape=(len(monos), r * r))
    Q, t = cp.Variable((r, r), symmetric=True), cp.Variable()
    cap = max(float(abs(c)) for c in p.values())
    problem = cp.Problem(cp.Maximize(t), [A @ cp.vec(Q, order="F") == np.array([float(p.get(m, 0)) for m in monos]),
                                          Q - t * np.eye(r) >> 0, t <= cap])
    for _ in solve(problem):
        if t.value > -1e-6 * cap:
            return Q.value
    return None


def _face_exact(p, basis, C, rows, unknowns, Qface):
    """Q' rounded, its pivot unknowns solved exactly from the rest (so z'(C'Q'C)z = p holds exactly), then the
    exact check of C'Q'C: (rational Q, pivots) or None."""
    k, width = len(basis), len(unknowns)
    echelon, pivots = _rref([{**row, width: p.get(m, Fraction(0))} for m, row in rows.items()], width + 1)
    if width in pivots:  # 0 = 1: no Gram matrix on this face
        return None
    for denominator in DENOMINATORS:
        rounded = _round(Qface, denominator)
        x = {u: rounded[a][b] for u, (a, b) in enumerate(unknowns)}
        for row, col in zip(echelon, pivots):
            x[col] = row.get(width, 0) - sum(v * x[c] for c, v in row.items() if c not in (col, width))
        full = [[Fraction(0)] * k for _ in range(k)]  # C'Q'C over C's nonzeros
        for u, (a, b) in enumerate(unknowns):
            for i, ca in C[a].items():
                for j, cb in C[b].items():
                    full[i][j] += ca * x[u] * cb
                    if a != b:
                        full[j][i] += ca * x[u] * cb
        pivots_psd = check_gram(p, basis, full)
        if pivots_psd is not None:
            return full, pivots_psd
    return None


def _phi(Vp, squares, epsilon):
    """A first guess at phi without an SDP: epsilon on each variable's largest even-power coefficient in V."""
    phi = {}
    for group in squares:
        best = max(group, key=lambda s: (Vp.get(s, 0), -sum(s)))
        phi[best] = epsilon
    return phi


def certify(p, n, squares=(), epsilon=EPSILON, fixed_phi=None):
    """A certificate that p - phi is SOS (phi chosen from `squares`, see gram_sdp), checked exactly, or a reason.

    First the Gram matrix nearest to 0 with fixed_phi (no solver: unique whenever the Gram matrix is, e.g. a
    quadratic p), then the SDP. Returns (certificate, None) or (None, why).
    """
    nonzero = {m for m, c in p.items() if c != 0}
    basis = gram_basis(nonzero | {s for group in squares for s in group}, nonzero, n)
    if not basis:
        return (_certificate([], [], [], {}, "empty"), None) if not p else (None, "no Gram matrix has these monomials")
    if fixed_phi is not None:
        target = _lin((1, p), (-1, fixed_phi))
        Q = project_gram([[Fraction(0)] * len(basis) for _ in basis], basis, target)
        pivots = None if Q is None else psd_pivots(Q)
        if pivots is not None:
            return _certificate(basis, Q, pivots, fixed_phi, "nearest Gram matrix, no solver"), None
    best_t, budget = None, [FACE_TRIES]
    for Qf, cf, solver, t in gram_sdp(p, basis, squares, epsilon):
        best_t = t if best_t is None else max(best_t, t)
        for phi in (_phis(cf, squares, epsilon) if squares else [{}]):
            target = _lin((1, p), (-1, phi))
            exact, how = _exact_gram(target, basis, Qf), "rounded"
            if not exact:
                exact, how = _reduce(target, basis, Qf, budget), "facially reduced, rounded"
            if exact:
                return _certificate(basis, exact[0], exact[1], phi, f"SDP by {solver}, {how}"), None
        if t < -1e-6 * max(float(abs(c)) for c in p.values()):  # confidently not SOS: a second solver would agree
            break
    if best_t is None:
        return None, "SDP infeasible"
    return None, f"SDP margin {best_t:.3g}" + ("" if best_t < 0 else ", rounding not exactly PSD")


def _phis(c, squares, epsilon):
    """Rational phis from the SDP's weights c, each group summing to exactly epsilon.

    Lowering a weight keeps V - phi SOS (it adds a square x_i^(2j)), so each group is scaled down to epsilon; the
    solver's tiny weights, within its tolerance but not exactly feasible, are snapped to 0. Then, as a second
    guess, all of epsilon on each group's largest weight.
    """
    spread, peak, start = {}, {}, 0
    for group in squares:
        w = np.maximum(np.asarray(c[start:start + len(group)], dtype=float), 0)
        start += len(group)
        w = np.where(w < 1e-3 * w.sum(), 0, w) / max(w.sum(), 1e-300) if w.sum() > 0 else np.eye(len(group))[0]
        shares = [Fraction(round(x * 1000), 1000) for x in w / w.sum()]
        shares[int(np.argmax(w))] += 1 - sum(shares)
        spread.update({s: epsilon * x for s, x in zip(group, shares) if x})
        peak[group[int(np.argmax(w))]] = epsilon
    return [spread] if spread == peak else [spread, peak]


def _certificate(basis, Q, pivots, phi, source):
    return {"basis": tuple(basis), "gram": tuple(tuple(row) for row in Q), "pivots": tuple(pivots),
            "phi": dict(phi), "source": source}


def check_certificate(system, V, certificate):
    """Re-check a valid verdict's certificate from scratch, exactly: (True, '') or (False, why). Trusts nothing."""
    try:
        xs, fs, V = parse(system, V)
        n = len(xs)
        Vp, fps = poly_dict(V, xs), [poly_dict(f, xs) for f in fs]
        if Vp is None or any(fp is None for fp in fps):
            return False, "not polynomial"
        if Vp.get((0,) * n, 0) != 0:
            return False, "V(0) != 0"
        epsilon, positive, decreasing = certificate["epsilon"], certificate["positive"], certificate["decreasing"]
        phi = positive["phi"]
        if epsilon <= 0 or any(c < 0 for c in phi.values()):
            return False, "phi has a negative coefficient"
        for i in range(n):
            weights = [c for m, c in phi.items() if m[i] > 0]
            if sum(weights) < epsilon:
                return False, f"phi's weight on x{i} is below epsilon"
        if any(sum(1 for e in m if e) != 1 or m[i] % 2 for m in phi for i in range(n)):
            return False, "phi is not a sum of even powers x_i^(2j)"
        for part in (positive, decreasing):
            if any(len(m) != n or any(not isinstance(e, int) or e < 0 for e in m) for m in part["basis"]):
                return False, "a basis entry is not a monomial in x0 .. x{n-1}"
        if check_gram(_lin((1, Vp), (-1, phi)), positive["basis"], positive["gram"]) is None:
            return False, "V - phi = z'Qz with Q PSD fails"
        if check_gram(_lin((-1, lie_derivative(Vp, fps))), decreasing["basis"], decreasing["gram"]) is None:
            return False, "-dV/dt = w'Rw with R PSD fails"
        return True, ""
    except Exception as e:  # noqa: BLE001 - a certificate that breaks the check is not valid
        return False, _one_line(f"{type(e).__name__}: {e}")


# --------------------------------------------------------------------------------------- the polynomial verdict

def _verify_polynomial(Vp, fps, n, epsilon, radius):
    zero = (0,) * n
    if Vp.get(zero, 0) != 0:
        return Verdict("not_positive", f"counterexample: V(0) = {Vp[zero]} != 0", proof=True,
                       point=(Fraction(0),) * n)
    Vdot = lie_derivative(Vp, fps)
    found = _cheap_counterexample(Vp, Vdot, n)
    if found:
        return found
    squares = square_groups(n, _degree(Vp))
    positive, why = certify(Vp, n, squares, epsilon, fixed_phi=_phi(Vp, squares, epsilon))
    if positive is None:
        return _not_positive(Vp, n, radius, why, epsilon)
    decreasing, why = certify(_lin((-1, Vdot)), n, fixed_phi={})
    if decreasing is None:
        return _not_decreasing(Vp, Vdot, fps, n, radius, why)
    certificate = {"epsilon": epsilon, "positive": positive, "decreasing": decreasing}
    return _judge(Vp, fps, n, certificate)


def _judge(Vp, fps, n, certificate):
    """valid only if the exact re-check of the assembled certificate passes."""
    xs = variables(n)
    V = sympy.Add(*(sympy.Rational(c.numerator, c.denominator) * sympy.Mul(*(x**e for x, e in zip(xs, m)))
                    for m, c in Vp.items()))
    fs = [sympy.Add(*(sympy.Rational(c.numerator, c.denominator) * sympy.Mul(*(x**e for x, e in zip(xs, m)))
                      for m, c in fp.items())) for fp in fps]
    ok, why = check_certificate(fs, V, certificate)
    if not ok:
        return Verdict("error", f"assembled certificate failed its exact check: {why}")
    pos, dec = certificate["positive"], certificate["decreasing"]
    terms = sorted(pos["phi"].items(), key=lambda mc: mc[0][::-1], reverse=True)  # x0's term first
    phi = " + ".join(f"{c}*{_monomial(m)}" for m, c in terms)
    detail = (f"exact SOS certificates: V - ({phi}) = z'Qz, Q {len(pos['basis'])}x{len(pos['basis'])} "
              f"({pos['source']}); -dV/dt = w'Rw, R {len(dec['basis'])}x{len(dec['basis'])} ({dec['source']}); "
              f"Q, R rational, PSD by exact LDL'")
    return Verdict("valid", detail, proof=True, certificate=certificate)


def _cheap_counterexample(Vp, Vdot, n):
    """V <= 0 or dV/dt > 0 at a few rational points (unit vectors, sign vectors; scaled 1/10, 1, 10), exactly."""
    directions = [tuple(s if j == i else 0 for j in range(n)) for i in range(n) for s in (1, -1)]
    if n <= 4:
        directions += [tuple(1 - 2 * ((k >> j) & 1) for j in range(n)) for k in range(2 ** n)]
    points = np.array([[s * d for d in direction] for s in (0.1, 1, 10) for direction in directions], dtype=float)
    exact = [tuple(Fraction(s) * d for d in direction) for s in (Fraction(1, 10), 1, 10) for direction in directions]
    return (_confirm(Vp, "V", points, _float_fn(Vp, n)(points) / _square(points), exact, upper=True)
            or _confirm(Vdot, "dV/dt", points, -_float_fn(Vdot, n)(points) / _square(points), exact, upper=False))


def _confirm(p, name, points, scores, exact=None, upper=True):
    """The first float candidate (lowest scores, <= 1e-6) that is a counterexample exactly: V(q) <= 0 (upper) or
    dV/dt(q) > 0. Floats only choose where to look; the verdict is the exact value."""
    for r in np.argsort(scores, kind="stable")[:8]:
        if not scores[r] <= 1e-6:
            break
        for q in ([exact[r]] if exact is not None else _rationals(points[r])):
            value = evaluate(p, q)
            if (value <= 0) if upper else (value > 0):
                sign = "<= 0" if upper else "> 0"
                status = "not_positive" if upper else "not_decreasing"
                return Verdict(status, f"counterexample: {name}{_fmt(q)} = {value} {sign}", proof=True, point=q)
    return None


def _rationals(x):
    """Rational points near a float point: small denominators first, then the exact binary value."""
    for d in (1, 10, 1000, 10**6):
        yield tuple(Fraction(v).limit_denominator(d) for v in x)
    yield tuple(Fraction(float(v)) for v in x)


def _not_positive(Vp, n, radius, why, epsilon):
    """No certificate of V >= phi: look for an exact counterexample, then for evidence that V is not proper."""
    rng = np.random.default_rng(SEED)
    fn = _float_fn(Vp, n)
    X = _minimisers(lambda X: fn(X) / _square(X), n, radius, rng)
    found = _confirm(Vp, "V", X, fn(X) / _square(X))
    if found:
        return found
    top = {m: c for m, c in Vp.items() if sum(m) == _degree(Vp)}
    found = _ray_counterexample(Vp, top, n, rng, upper=True)
    if found:
        return found
    if not _grows(fn, n, radius, rng):
        return Verdict("not_proper", f"no certificate of V >= phi ({why}); numerical evidence: the minimum of "
                       f"V on spheres stops growing (a check, not a proof)")
    return Verdict("not_positive", f"no certificate of V >= phi, eps={epsilon} ({why}); no counterexample found: "
                   f"not a proof that V fails")


def _not_decreasing(Vp, Vdot, fps, n, radius, why):
    rng = np.random.default_rng(SEED)
    fn = _float_fn(Vdot, n)
    terms = [_float_fn(_mul(_diff(Vp, i), fp), n) for i, fp in enumerate(fps)]
    magnitude = lambda X: sum(np.abs(t(X)) for t in terms) + 1e-300
    X = _minimisers(lambda X: -fn(X) / magnitude(X), n, radius, rng)
    found = _confirm(Vdot, "dV/dt", X, -fn(X) / magnitude(X), upper=False)
    if found:
        return found
    top = {m: c for m, c in Vdot.items() if sum(m) == _degree(Vdot)}
    found = _ray_counterexample(Vdot, top, n, rng, upper=False)
    if found:
        return found
    return Verdict("not_decreasing", f"no certificate of -dV/dt SOS ({why}); no counterexample found: not a proof "
                   f"that dV/dt > 0 anywhere")


def _ray_counterexample(p, top, n, rng, upper):
    """If the top-degree part has the wrong sign in a direction u, p(t u) does too for a large t: find it exactly."""
    sign = 1 if upper else -1
    fn = _float_fn(top, n)
    U = rng.standard_normal((512, n))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    values = sign * fn(U)
    for r in np.argsort(values, kind="stable")[:4]:
        if values[r] >= 0:
            break
        for u in _rationals(U[r]):
            if sign * evaluate(top, u) >= 0:
                continue
            for k in range(64):
                q = tuple(2**k * x for x in u)
                value = evaluate(p, q)
                if (value <= 0) if upper else (value > 0):
                    name, rel = ("V", "<= 0") if upper else ("dV/dt", "> 0")
                    return Verdict("not_positive" if upper else "not_decreasing",
                                   f"counterexample: {name}{_fmt(q)} = {value} {rel}", proof=True, point=q)
            break
    return None


# ---------------------------------------------------------------------------------------- the numerical check

def _verify_numeric(xs, fs, V, radius):
    """valid_numeric or a failure, all of it a check, not a proof."""
    note = "a check, not a proof"
    n = len(xs)
    at_zero = V.subs({x: 0 for x in xs})
    if at_zero.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
        return Verdict("not_positive", f"V undefined at 0 ({note})", point=(0.0,) * n)
    if at_zero != 0 and not (at_zero.is_number and abs(complex(at_zero)) < 1e-12):
        return Verdict("not_positive", f"V(0) = {at_zero} != 0", point=(0.0,) * n)
    fn, ratio, evaluate = _numeric_functions(xs, V, fs)
    rng = np.random.default_rng(SEED)
    X = _samples(n, radius, rng, 4096)
    X = _minimisers(lambda X: fn(X) / _square(X), n, radius, rng, X)
    X = _minimisers(lambda X: -ratio(X), n, radius, rng, X)
    values, ratios, vdots, state = evaluate(X)
    for code, name, status in ((1, "V", "not_positive"), (2, "dV/dt", "not_decreasing")):
        if code == 2 and not _grows(fn, n, radius, rng):
            return Verdict("not_proper", f"the minimum of V on spheres stops growing by radius {100 * radius:g} "
                           f"({note})")
        bad = np.flatnonzero(state == code)
        if len(bad):
            return Verdict(status, f"{name} undefined at {_fmt(X[bad[0]])} ({note})", point=tuple(X[bad[0]]))
        if code == 1:
            scores = np.where(state == 0, values / _square(X), np.inf)
            r = int(np.argmin(scores))
            if values[r] <= 1e-12 * np.sum(X[r] ** 2):
                return Verdict(status, f"V{_fmt(X[r])} = {values[r]:.4g} <= 0 ({note})", point=tuple(X[r]))
        else:
            scores = np.where(state == 0, ratios, -np.inf)
            r = int(np.argmax(scores))
            if scores[r] > 1e-9:
                return Verdict(status, f"dV/dt{_fmt(X[r])} = {vdots[r]:.4g} > 0 ({note})", point=tuple(X[r]))
    skipped = int(np.sum(state == 3))
    skipped = f", {skipped} overflowing float64 skipped" if skipped else ""
    return Verdict("valid_numeric", f"{note}: V(0) = 0, V > 0 and dV/dt <= 0 at {len(X)} samples and local minima "
                   f"in [-{radius:g}, {radius:g}]^{n}{skipped}; V's minimum on spheres grows up to radius "
                   f"{100 * radius:g}")


def _numeric_functions(xs, V, fs, exact_rows=20):
    """V, and dV/dt over the sum of its terms' sizes (in [-1, 1]: scale-free, rounding-aware), as float functions of
    an (m, n) array; and evaluate(X) -> (V, ratio, dV/dt, state) with state 0 ok, 1 V undefined, 2 dV/dt undefined,
    3 skipped. A non-finite float is re-evaluated in mpmath (no overflow; complex where undefined) at up to
    exact_rows points, nearest the origin first; the rest are skipped as float overflow."""
    import mpmath
    exprs = [V] + [sympy.diff(V, x) * f for x, f in zip(xs, fs)]
    floats = sympy.lambdify(xs, exprs, modules="numpy")
    precise = sympy.lambdify(xs, exprs, modules="mpmath")
    only_V = sympy.lambdify(xs, V, modules="numpy")

    def columns(X):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = [np.asarray(c) for c in floats(*X.T)]
            out = [np.where(np.abs(np.imag(c)) > 0, np.nan, np.real(c)) if np.iscomplexobj(c) else c for c in out]
            return np.column_stack([np.broadcast_to(c, (len(X),)).astype(float) for c in out])

    def fn(X):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = np.asarray(only_V(*X.T))
            out = np.where(np.abs(np.imag(out)) > 0, np.nan, np.real(out)) if np.iscomplexobj(out) else out
            return np.broadcast_to(out, (len(X),)).astype(float)

    def ratio(X):
        terms = columns(X)[:, 1:]
        with np.errstate(all="ignore"):
            return terms.sum(axis=1) / (np.abs(terms).sum(axis=1) + 1e-300)

    def evaluate(X):
        C = columns(X)
        values, terms = C[:, 0], C[:, 1:]
        with np.errstate(all="ignore"):
            vdots = terms.sum(axis=1)
            ratios = vdots / (np.abs(terms).sum(axis=1) + 1e-300)
        state = np.where(np.isfinite(C).all(axis=1) | (np.isposinf(values) & np.isfinite(terms).all(axis=1)), 0, 3)
        bad = np.flatnonzero(state == 3)
        for r in bad[np.argsort(np.sum(X[bad] ** 2, axis=1), kind="stable")][:exact_rows]:
            with mpmath.workdps(30):
                out = [mpmath.mpmathify(v) for v in precise(*(mpmath.mpf(float(x)) for x in X[r]))]
                real = [not isinstance(v, mpmath.mpc) or abs(v.imag) <= 1e-20 * abs(v) for v in out]
                out = [mpmath.re(v) for v in out]
                if not real[0] or mpmath.isnan(out[0]):
                    state[r] = 1
                elif not all(real[1:]) or any(mpmath.isnan(v) for v in out[1:]):
                    state[r] = 2
                else:
                    total, size = mpmath.fsum(out[1:]), mpmath.fsum(abs(v) for v in out[1:])
                    values[r], vdots[r] = float(out[0]), float(total)
                    ratios[r], state[r] = (float(total / size) if size else 0.0), 0
        return values, ratios, vdots, state
    return fn, ratio, evaluate


def _square(X):
    return np.maximum(np.sum(X**2, axis=1), 1e-300)


def _samples(n, radius, rng, count):
    """Seeded points of [-radius, radius]^n: three quarters at log-spread radii 1e-2 .. radius, a quarter uniform."""
    k = 3 * count // 4
    U = rng.standard_normal((k, n))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    r = np.exp(rng.uniform(math.log(1e-2), math.log(radius), size=(k, 1)))
    return np.vstack([U * r, rng.uniform(-radius, radius, size=(count - k, n))])


def _minimisers(objective, n, radius, rng, X=None, starts=6):
    """The sample points plus local minima (L-BFGS-B, multi-start from the best samples) of objective in the box."""
    if X is None:
        X = _samples(n, radius, rng, 2048)
    with np.errstate(all="ignore"):
        values = np.nan_to_num(objective(X), nan=np.inf)
    found = [X]
    for r in np.argsort(values, kind="stable")[:starts]:
        result = _local_min(objective, X[r], [(-radius, radius)] * n)
        if np.linalg.norm(result.x) >= 1e-3:
            found.append(result.x[None])
    return np.vstack(found)


def _local_min(objective, x, bounds=None):
    """L-BFGS-B from x on a vectorised objective: value and forward-difference gradient in one batched call."""
    from scipy.optimize import minimize

    def value_and_gradient(x):
        h = 1e-7 * np.maximum(1, np.abs(x))
        with np.errstate(all="ignore"):
            values = np.nan_to_num(objective(np.vstack([x, x + np.diag(h)])), nan=1e300, posinf=1e300, neginf=-1e300)
            return values[0], np.nan_to_num((values[1:] - values[0]) / h)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return minimize(value_and_gradient, x, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 200})


def _grows(fn, n, radius, rng):
    """Numerical properness: the minimum of V on spheres of radius radius/10 .. 100 radius keeps growing.

    Not growing: the last decade adds under 1% of the largest earlier decade's growth (bounded V level off
    geometrically; log-like V keep a constant growth per decade).
    """
    U = rng.standard_normal((1024, n))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    minima = []
    for r in radius * np.array([0.1, 1, 10, 100]):
        on_sphere = lambda Y, r=r: fn(r * Y / np.maximum(np.linalg.norm(Y, axis=1, keepdims=True), 1e-300))
        values = fn(r * U)
        best = float(np.nanmin(values)) if not np.isnan(values).all() else np.inf
        for k in np.argsort(values, kind="stable")[:2]:
            result = _local_min(on_sphere, U[k])
            if result.fun < 1e300:  # 1e300 stands for overflow or undefined
                best = min(best, float(result.fun))
        minima.append(best)
    if not minima[-1] < 1e300:  # overflows float64 out there: growing
        return True
    steps = np.diff(minima)
    return steps[-1] > 0.01 * max(steps[:-1].max(), 0) and steps[-1] > 0


# ------------------------------------------------------------------------------------------------------ helpers

def _rational(x):
    """epsilon as an exact rational; a float is read as the decimal it prints as (1e-3 is 1/1000)."""
    if isinstance(x, float):
        return Fraction(repr(x))
    return Fraction(x)


def _monomial(m):
    return "*".join(f"x{i}" + (f"^{e}" if e > 1 else "") for i, e in enumerate(m) if e) or "1"


def _fmt(point):
    return "(" + ", ".join(str(x) if isinstance(x, Fraction) else f"{float(x):.6g}" for x in point) + ")"


def _one_line(text):
    line = " ".join(str(text).split())
    return line if len(line) <= 300 else line[:297] + "..."
