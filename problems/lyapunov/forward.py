"""Forward generation: random polynomial systems, and (system, V) pairs where the SOS baseline finds V.

Few random systems are globally stable (with at most 5 terms per equation, about 1 in 40 of 2-equation systems
has a V the SOS baseline finds, and fewer of 3 equations), so two cheap filters come before the SDPs:

    the linearisation at 0 has no eigenvalue with positive real part (else 0 is unstable: no V exists);
    32 seeded trajectories from the box [-2, 2]^n stay within 10 times their starting norm up to t = 3
    (fixed-step RK4), as they must under a Lyapunov function of moderate condition.

The filters decide only which systems are worth an SOS search or a model's proposal; they prove nothing. On 300
random 2-equation systems the trajectory filter kept 21 of the 157 linearly stable ones, and all 7 that the
SOS baseline solves. Systems passing both filters are `plausibly stable`: the problems a discovery run tries.
"""
import numpy as np
import sympy

from problems.lyapunov import generate, sos, variables

POINTS, RADIUS, STEP, STEPS, GROWTH = 32, 2.0, 0.005, 600, 10.0


def linearly_unstable(system, xs):
    """The Jacobian at 0 has an eigenvalue with positive real part."""
    jacobian = np.array([[float(sympy.diff(f, x).subs({y: 0 for y in xs})) for x in xs] for f in system])
    return bool(np.linalg.eigvals(jacobian).real.max() > 1e-9)


def trajectories_bounded(system, xs, seed):
    """Seeded trajectories from [-RADIUS, RADIUS]^n stay within GROWTH times their starting norm up to t = 3."""
    rates = sympy.lambdify([xs], list(system), "numpy")
    x = np.random.default_rng(seed).uniform(-RADIUS, RADIUS, size=(len(xs), POINTS))
    start = np.linalg.norm(x, axis=0)

    def f(x):
        return np.array([np.broadcast_to(r, x.shape[1:]) for r in rates(x)], dtype=float)

    with np.errstate(all="ignore"):  # a blow-up is an inf or a nan, caught by the comparison below
        for _ in range(STEPS):
            k1 = f(x)
            k2 = f(x + STEP / 2 * k1)
            k3 = f(x + STEP / 2 * k2)
            x = x + STEP / 6 * (k1 + 2 * k2 + 2 * k3 + f(x + STEP * k3))
            if not np.all(np.linalg.norm(x, axis=0) <= GROWTH * start + 1e-9):
                return False
    return True


def plausibly_stable(system, seed=0):
    xs = variables(len(system))
    return not linearly_unstable(system, xs) and trajectories_bounded(system, xs, seed)


def stable_system(seed, min_equations=2, max_equations=3, max_tries=100_000):
    """The first plausibly stable random system (generate.random_system) of this seed's draws."""
    rng = np.random.default_rng(seed)
    for _ in range(max_tries):
        draw = int(rng.integers(2**62))
        system = generate.random_system(draw, int(rng.integers(min_equations, max_equations + 1)))
        if plausibly_stable(system, draw):
            return system
    raise RuntimeError(f"seed {seed}: no plausibly stable system in {max_tries} draws")


def forward_pair(seed, min_equations=2, max_equations=3, max_tries=1000):
    """(system, V) for this seed: the first plausibly stable random system for which the SOS baseline finds a V
    (proven valid by the verifier); the systems it could not solve are skipped."""
    rng = np.random.default_rng(seed)
    for _ in range(max_tries):
        system = stable_system(int(rng.integers(2**62)), min_equations, max_equations)
        V = sos.find_lyapunov(system)
        if V is not None:
            return system, V
    raise RuntimeError(f"seed {seed}: the SOS baseline solved none of {max_tries} plausibly stable systems")
