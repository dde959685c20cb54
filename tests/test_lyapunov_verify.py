"""The Lyapunov verifier and the SOS baseline: exact certificates, counterexamples, the numerical check, parsing,
determinism; the exact PSD test against sympy; every V the baseline returns verifies valid."""
import itertools
import random
from fractions import Fraction

import pytest
import sympy

from problems.lyapunov import variables
from problems.lyapunov.sos import find_lyapunov
from problems.lyapunov.verify import STATUSES, Verdict, check_certificate, check_gram, psd_pivots, verify

x0, x1 = variables(2)
y0, y1, y2 = variables(3)
LINEAR = (-x0 + x1, -x0 - x1)
CUBIC = (-x0**3 + x1, -x0 - x1**3)  # V = x0^2 + x1^2: dV/dt = -2 x0^4 - 2 x1^4
UNSTABLE = (x0, -x1)


def gradient_system(V, xs, J):
    """x' = (J - I) grad V, J skew: dV/dt = -|grad V|^2, whose Gram matrices are forced to be singular."""
    g = sympy.Matrix([sympy.diff(V, x) for x in xs])
    return tuple(sympy.expand(e) for e in (J - sympy.eye(len(xs))) * g)


QUARTIC3 = y0**2 + y1**2 + y2**2 + y0**4 / 2 + y1**2 * y2**2 + y0 * y1 * y2
SYSTEM3 = gradient_system(QUARTIC3, (y0, y1, y2), sympy.Matrix([[0, 1, 0], [-1, 0, 1], [0, -1, 0]]))


def test_statuses():
    assert STATUSES == ("valid", "valid_numeric", "not_positive", "not_proper", "not_decreasing", "unparsable",
                        "error", "timeout")


@pytest.mark.parametrize("system, V", [(LINEAR, x0**2 + x1**2), (CUBIC, x0**2 + x1**2), (SYSTEM3, QUARTIC3),
                                       ((-x0**3, -x1**3), x0**4 + x1**4), ((x1, -x0), x0**2 + x1**2)])
def test_valid_with_exact_certificate(system, V):
    verdict = verify(system, V)
    assert verdict.status == "valid" and verdict.proof, verdict.detail
    cert = verdict.certificate
    for part in (cert["positive"], cert["decreasing"]):  # the recorded exact PSD proof: LDL' pivots, all >= 0
        assert all(isinstance(d, Fraction) and d >= 0 for d in part["pivots"])
        assert all(isinstance(q, Fraction) for row in part["gram"] for q in row)
    assert check_certificate(system, V, cert) == (True, "")


def test_singular_gram_needs_facial_reduction():
    # -dV/dt = |grad V|^2 has zeros at infinity: no Gram matrix is positive definite, plain rounding cannot work
    verdict = verify(SYSTEM3, QUARTIC3)
    assert "SDP" in verdict.certificate["decreasing"]["source"]
    assert min(verdict.certificate["decreasing"]["pivots"]) == 0


def test_tampered_certificate_is_rejected():
    verdict = verify(CUBIC, x0**2 + x1**2)
    cert = verdict.certificate
    gram = [list(row) for row in cert["decreasing"]["gram"]]
    basis = cert["decreasing"]["basis"]
    gram[0][0] -= 3  # still symmetric, no longer PSD, no longer a Gram matrix of -dV/dt
    assert psd_pivots(gram) is None
    assert check_gram({m: -c for m, c in {(4, 0): -2, (0, 4): -2}.items()}, basis, gram) is None
    tampered = {**cert, "decreasing": {**cert["decreasing"], "gram": tuple(tuple(row) for row in gram)}}
    assert check_certificate(CUBIC, x0**2 + x1**2, tampered)[0] is False
    assert check_certificate(CUBIC, x0**2 - x1**2, cert)[0] is False  # the certificate is for another V
    assert check_certificate(UNSTABLE, x0**2 + x1**2, cert)[0] is False  # and another system
    weak = {**cert, "positive": {**cert["positive"], "phi": {}}}  # V - 0 is SOS, but proves no epsilon margin
    assert check_certificate(CUBIC, x0**2 + x1**2, weak)[0] is False


def test_psd_pivots_agrees_with_sympy():
    rng = random.Random(0)
    for _ in range(60):
        k, rank = rng.randint(1, 5), rng.randint(0, 5)
        B = sympy.Matrix(rank, k, lambda i, j: sympy.Rational(rng.randint(-4, 4), rng.randint(1, 3)))
        M = B.T * B if rank else sympy.zeros(k, k)
        if rng.random() < 0.5:  # perturb: often indefinite
            i = rng.randrange(k)
            M[i, i] -= sympy.Rational(rng.randint(0, 3), 2)
        pivots = psd_pivots([[Fraction(int(v.p), int(v.q)) for v in M.row(i)] for i in range(k)])
        subsets = (list(c) for r in range(1, k + 1) for c in itertools.combinations(range(k), r))
        minors = (M.extract(c, c).det() for c in subsets)
        assert (pivots is not None) == all(d >= 0 for d in minors), M  # PSD iff every principal minor is >= 0
    assert psd_pivots([[1, 2], [2, 1]]) is None
    assert psd_pivots([[0, 1], [1, 0]]) is None  # zero pivot, nonzero row
    assert psd_pivots([[1, 0], [1, 1]]) is None  # not symmetric
    assert psd_pivots([[0, 0], [0, 2]]) == [0, 2]


def test_not_positive_counterexample():
    verdict = verify(LINEAR, x0**2 - x1**2)
    assert verdict.status == "not_positive" and verdict.proof and "counterexample" in verdict.detail
    p = verdict.point
    assert (p[0]**2 - p[1]**2) <= 0 and any(p)
    assert verify(LINEAR, x0**2 + x1**2 + 1).status == "not_positive"  # V(0) != 0
    assert verify(LINEAR, (x0 - x1)**2).status == "not_positive"  # semidefinite: V = 0 on a line


def test_not_positive_far_away():
    # V < 0 only for |x0| > 31.6: the top-degree part's sign along a ray finds it, exactly
    verdict = verify(LINEAR, x0**2 + x1**2 - x0**4 / 1000)
    assert verdict.status == "not_positive" and verdict.proof


def test_not_decreasing_counterexample():
    for system in (UNSTABLE, (x0,)):
        V = x0**2 + x1**2 if len(system) == 2 else x0**2
        verdict = verify(system, V)
        assert verdict.status == "not_decreasing" and verdict.proof, verdict.detail
        assert 2 * verdict.point[0]**2 > 0


def test_unparsable():
    y, x2 = sympy.Symbol("y"), sympy.Symbol("x2")
    for V in (y * x0**2, x0**2 + x2**2, "x0**2", [x0], sympy.Eq(x0, 1), x0**2 + sympy.nan, sympy.I * x0**2):
        verdict = verify(LINEAR, V)
        assert verdict.status == "unparsable", (V, verdict)
    # same names, other assumptions: the system's variables
    assert verify(LINEAR, sympy.Symbol("x0")**2 + sympy.Symbol("x1")**2).status == "valid"


def test_errors_are_reported_not_raised():
    assert verify(None, x0**2).status == "error"
    assert verify((x0 + 1, x1), x0**2 + x1**2).status == "error"  # f(0) != 0
    assert verify(LINEAR, x0**2, epsilon=-1).status == "error"
    verdict = verify(LINEAR, x0**2 + x1**2)
    assert isinstance(verdict, Verdict) and verdict.seconds > 0 and "\n" not in verdict.detail


def test_valid_numeric_is_labelled_a_check():
    V = sympy.log(1 + x0**2 + x1**2)
    verdict = verify(LINEAR, V)
    assert verdict.status == "valid_numeric" and not verdict.proof
    assert "a check, not a proof" in verdict.detail and verdict.certificate is None
    assert verify(UNSTABLE, V).status == "not_decreasing"
    assert verify((-x0 + sympy.sin(x1), -x1), x0**2 + x1**2).status == "valid_numeric"  # non-polynomial f


def test_numeric_failures():
    assert verify(LINEAR, sympy.log(x0**2 + x1**2)).status == "not_positive"  # undefined at 0
    verdict = verify(LINEAR, sympy.log(1 + x0) + x1**2 + x0**2)  # undefined for x0 < -1, negative near it
    assert verdict.status == "not_positive" and not verdict.proof
    verdict = verify((-x0, -x1), x0**2 / (1 + x0**2) + x1**2)  # bounded along x0
    assert verdict.status == "not_proper" and not verdict.proof


def test_deterministic():
    for system, V in ((SYSTEM3, QUARTIC3), (LINEAR, sympy.log(1 + x0**2 + x1**2)), (LINEAR, x0**2 - x1**2)):
        a, b = verify(system, V), verify(system, V)
        assert (a.status, a.detail, a.point, a.certificate) == (b.status, b.detail, b.point, b.certificate)


@pytest.mark.parametrize("system", [LINEAR, (x1, -2 * x0 - 3 * x1), CUBIC, (-x0**3, -x1**3),
                                    (-y0 + y1 * y2, -y1 - y0 * y2, -y2 + y0 * y1)])
def test_baseline_finds_verified_v(system):
    V = find_lyapunov(system)
    assert V is not None
    assert verify(system, V).status == "valid"
    assert find_lyapunov(system) == V  # deterministic


def test_baseline_none_for_unstable_and_non_polynomial():
    assert find_lyapunov(UNSTABLE) is None
    assert find_lyapunov((-x0 + sympy.sin(x1), -x1)) is None


def test_a_solver_that_panics_is_a_failed_solve_not_a_crash():
    class Panic(BaseException):  # what pyo3 raises when Clarabel's Rust code panics
        pass

    class Programme:
        status = None

        def solve(self, **options):
            raise Panic("Eigval error: Eigen(1)")

    from problems.lyapunov.verify import solve

    assert list(solve(Programme())) == []
