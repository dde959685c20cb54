"""Forward generation: the stability filters, and pairs whose V the verifier proves."""
import sympy

from problems.lyapunov import forward, variables, verify

x0, x1 = variables(2)


def test_the_filters_reject_unstable_systems_and_keep_stable_ones():
    assert not forward.plausibly_stable((x0 + x1, -x1))  # eigenvalue 1
    assert not forward.plausibly_stable((-x0 + x0**2, -x1))  # stable at 0, blows up from x0 = 2
    assert forward.plausibly_stable((-x0 + x1, -x0 - x1**3))
    assert forward.plausibly_stable((-x0 * x1**2, x0**2 * x1))  # conservative: V = x0^2 + x1^2 is constant


def test_forward_pairs_are_proven_and_deterministic():
    system, V = forward.forward_pair(6)
    assert verify.verify(system, V).status == "valid"
    assert forward.forward_pair(6) == (system, V)
    assert all(isinstance(f, sympy.Expr) for f in system) and 2 <= len(system) <= 3
    assert forward.stable_system(5) == forward.stable_system(5)
