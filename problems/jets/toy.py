"""An exact toy truth: jets from a Yule branching process, whose staircase ratio is known in closed form.

The process. Evolve in t = log(pt_max / pT) from t = 0 (pT = pt_max) to T = log(pt_max / pt_min). One emitter is
present at t = 0; every emitter emits at the constant rate `rate` = lambda per unit t, and each emission is a jet
(with pT = pt_max * exp(-t) at the moment it is emitted) and a new emitter. The number of emitters N(t) is a Yule
process started at 1, and the number of jets is n = N(T) - 1.

Multiplicity. For a Yule process from one individual, P(N(t) = k) = e^(-lambda t) (1 - e^(-lambda t))^(k - 1),
k >= 1 (it solves dP_k/dt = -lambda k P_k + lambda (k - 1) P_(k-1) with P_k(0) = [k = 1]). So with
p = e^(-lambda T) = (pt_min / pt_max)^lambda,

    P(n) = p (1 - p)^n, n = 0, 1, 2, ...     (geometric)
    sigma(n + 1) / sigma(n) = 1 - p = 1 - exp(-lambda log(pt_max / pt_min))   for every n: a perfect staircase.

Sampling without simulating. With j emitters the next emission comes after Exp(j lambda), so emission times
t_1 < .. < t_n on [0, T] and none after have density

    prod_j (j lambda) e^(-j lambda (t_j - t_(j-1))) * e^(-(n + 1) lambda (T - t_n)) = n! lambda^n e^(-(n + 1) lambda T)
                                                                                     * prod_j e^(lambda t_j)

(the exponents telescope to -lambda ((n + 1) T - sum_j t_j)). It factorises: given n, the emission times are n
independent draws from the density lambda e^(lambda t) / (e^(lambda T) - 1) on [0, T], sorted (integrating them out
gives P(n) above again). So: draw n geometric, then t = log(1 + u (e^(lambda T) - 1)) / lambda for uniform u.

The rest is simple and documented rather than physical:
    jets    eta ~ Normal(0, 1.5) truncated to |eta| < 5, phi uniform in [-pi, pi), m = pT * Uniform(0.05, 0.15)
    muons   a Z (91.19 GeV) at rest decaying isotropically: cos(theta) uniform in [-1, 1], phi uniform;
            pT = 45.6 sin(theta), eta = atanh(cos(theta)); the mu- is back to back (eta -> -eta, phi -> phi + pi)
"""
import math

import numpy as np

from problems.jets.events import MUONS

Z_MASS = 91.19  # GeV
MUON_MASS = 0.10566  # GeV
JET_ETA_SIGMA = 1.5
JET_ETA_MAX = 5.0


def toy_ratio(rate=0.07, pt_max=500.0, pt_min=20.0):
    """The exact staircase ratio sigma(n + 1) / sigma(n) = 1 - (pt_min / pt_max)^rate (see the module docstring)."""
    _check(rate, pt_max, pt_min)
    return 1.0 - math.exp(-rate * math.log(pt_max / pt_min))


def toy_events(count, seed, rate=0.07, pt_max=500.0, pt_min=20.0):
    """(multiplicity, particles) of `count` toy events in the events-file layout, deterministic from the seed."""
    _check(rate, pt_max, pt_min)
    rng = np.random.default_rng(seed)
    multiplicity = _multiplicities(rng, count, toy_ratio(rate, pt_max, pt_min))
    width = MUONS + (int(multiplicity.max()) if count else 0)
    particles = np.full((count, width, 4), np.nan, dtype=np.float64)
    particles[:, :MUONS] = _muons(rng, count)
    particles[:, MUONS:] = _jets(rng, multiplicity, width - MUONS, rate, pt_max, pt_min)
    return multiplicity, particles.astype(np.float32)


def _check(rate, pt_max, pt_min):
    if not (rate > 0 and 0 < pt_min < pt_max):
        raise ValueError(f"the toy needs rate > 0 and 0 < pt_min < pt_max, got {rate}, {pt_max}, {pt_min}")


def _multiplicities(rng, count, ratio):
    # numpy's geometric counts trials up to the first success (k >= 1); jets are the failures before it.
    return (rng.geometric(1.0 - ratio, size=count) - 1).astype(np.int32)


def _jets(rng, multiplicity, n_max, rate, pt_max, pt_min):
    """(count, n_max, 4) jet rows by decreasing pT; NaN past each event's multiplicity."""
    count = len(multiplicity)
    present = np.arange(n_max)[None, :] < multiplicity[:, None]
    span = rate * math.log(pt_max / pt_min)
    t = np.log1p(rng.random((count, n_max)) * math.expm1(span)) / rate
    t = np.sort(np.where(present, t, np.inf), axis=1)  # earliest emission = hardest jet first; padding last
    pt = pt_max * np.exp(-t)
    eta = _truncated_normal(rng, (count, n_max), JET_ETA_SIGMA, JET_ETA_MAX)
    phi = rng.uniform(-math.pi, math.pi, (count, n_max))
    mass = pt * rng.uniform(0.05, 0.15, (count, n_max))
    rows = np.stack([pt, eta, phi, mass], axis=-1)
    rows[~present] = np.nan
    return rows


def _truncated_normal(rng, shape, sigma, limit):
    """Normal(0, sigma) conditioned on |x| < limit, by redrawing the few outside (deterministic from rng)."""
    values = rng.normal(0.0, sigma, shape)
    outside = np.abs(values) >= limit
    while outside.any():
        values[outside] = rng.normal(0.0, sigma, int(outside.sum()))
        outside = np.abs(values) >= limit
    return values


def _muons(rng, count):
    """(count, 2, 4): mu+ and mu- of a Z at rest decaying isotropically."""
    cos_theta = rng.uniform(-1.0, 1.0, count)
    phi = rng.uniform(-math.pi, math.pi, count)
    pt = 0.5 * Z_MASS * np.sqrt(1.0 - cos_theta**2)
    eta = np.arctanh(np.clip(cos_theta, -1 + 1e-12, 1 - 1e-12))
    opposite = np.where(phi < 0, phi + math.pi, phi - math.pi)
    mass = np.full(count, MUON_MASS)
    return np.stack([np.stack([pt, eta, phi, mass], -1), np.stack([pt, -eta, opposite, mass], -1)], axis=1)
