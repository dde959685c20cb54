"""Jet events <-> model arrays: an exact round trip, the phi rotation and wrap, constants, the saved form."""
import json
import math

import numpy as np
import pytest

from problems.jets.preprocess import ETA, MASS, PHI, PT, Preprocessing, wrap
from problems.jets.toy import toy_events


def recoiling_events(count=400, seed=1):
    """Toy events whose mu- is not back to back (as when the Z recoils against jets): every phi is modelled."""
    multiplicity, particles = toy_events(count, seed, rate=0.3)
    kick = np.random.default_rng(seed).normal(0.0, 0.3, count)
    particles[:, 1, PHI] = wrap(particles[:, 1, PHI] + kick)
    return multiplicity, particles


def assert_same_events(got, expected):
    (got_multiplicity, got_particles), (multiplicity, particles) = got, expected
    assert np.array_equal(got_multiplicity, multiplicity) and got_multiplicity.dtype == np.int32
    assert got_particles.shape == particles.shape and got_particles.dtype == np.float32
    assert np.array_equal(np.isnan(got_particles), np.isnan(particles))
    present = ~np.isnan(particles[..., 0])
    for k in (PT, ETA, MASS):
        assert np.allclose(got_particles[present][:, k], particles[present][:, k], rtol=1e-5, atol=1e-5)
    assert np.abs(wrap(got_particles[present][:, PHI] - particles[present][:, PHI])).max() < 1e-5


@pytest.mark.parametrize("make", [lambda: toy_events(500, 0, rate=0.3), recoiling_events], ids=["toy", "recoiling"])
def test_round_trip(make):
    multiplicity, particles = make()
    preprocessing = Preprocessing.fit(multiplicity, particles, jet_ptmin=20.0)
    lengths, x, phi0 = preprocessing.encode(multiplicity, particles)
    assert x.dtype == np.float32 and x.shape == particles.shape and np.array_equal(lengths, multiplicity + 2)
    assert np.isfinite(x).all() and (x[np.arange(x.shape[1])[None, :] >= lengths[:, None]] == 0).all()
    assert_same_events(preprocessing.decode(lengths, x, phi0), (multiplicity, particles))


def test_standardised_features_and_constants():
    multiplicity, particles = toy_events(2000, 0, rate=0.3)
    preprocessing = Preprocessing.fit(multiplicity, particles, jet_ptmin=20.0)
    _, x, _ = preprocessing.encode(multiplicity, particles)
    # The toy's muon masses are constant, the mu+ phi is 0 after the rotation, and the mu- is exactly back to back.
    assert preprocessing.modelled.tolist() == [[True, True, False, False], [True, True, False, False], [True] * 4]
    assert (x[:, :2, PHI:] == 0).all()
    jets = x[:, 2:][np.arange(x.shape[1] - 2)[None, :] < multiplicity[:, None]]
    assert np.allclose(jets[:, [PT, ETA, MASS]].mean(0), 0, atol=1e-4)
    assert np.allclose(jets[:, [PT, ETA, MASS]].std(0), 1, atol=1e-4)
    expected_pt = (np.log(particles[:, 2, PT] - 20.0 + 0.01) - preprocessing.mean[2, PT]) / preprocessing.std[2, PT]
    assert np.allclose(x[multiplicity > 0, 2, PT], expected_pt[multiplicity > 0], atol=1e-5)


def test_phi_is_relative_to_the_first_muon_and_wrapped():
    particles = np.array([[[40.0, 0.1, 3.0, 0.1], [40.0, -0.1, -3.1, 0.1], [30.0, 1.0, -3.0, 5.0],
                           [25.0, 0.5, -0.5, 4.0]],
                          [[40.0, 0.2, -3.0, 0.1], [35.0, 0.3, 0.5, 0.1], [30.0, 1.0, 3.1, 5.0],
                           [np.nan] * 4]], dtype=np.float32)
    multiplicity = np.array([2, 1], dtype=np.int32)
    preprocessing = Preprocessing.fit(multiplicity, particles, jet_ptmin=20.0)
    _, x, phi0 = preprocessing.encode(multiplicity, particles)
    expected = np.array([[0.0, 2 * math.pi - 6.1, 2 * math.pi - 6.0, 2 * math.pi - 3.5],
                         [0.0, 3.5 - 2 * math.pi, 6.1 - 2 * math.pi, 0.0]])
    assert np.allclose(x[..., PHI], expected, atol=1e-5)
    assert np.allclose(phi0, [3.0, -3.0])
    assert wrap(np.array([math.pi, -math.pi, 3 * math.pi, 0.5])).tolist() == pytest.approx([math.pi] * 3 + [0.5])
    assert_same_events(preprocessing.decode(*preprocessing.encode(multiplicity, particles)), (multiplicity, particles))


def test_generated_events_get_a_seeded_uniform_rotation():
    multiplicity, particles = recoiling_events()
    preprocessing = Preprocessing.fit(multiplicity, particles, jet_ptmin=20.0)
    lengths, x, _ = preprocessing.encode(multiplicity, particles)
    first, again, other = (preprocessing.decode(lengths, x, seed=s)[1] for s in (0, 0, 1))
    assert np.array_equal(first, again, equal_nan=True) and not np.array_equal(first, other, equal_nan=True)
    relative = wrap(first[:, 1:, PHI] - first[:, :1, PHI])
    original = wrap(particles[:, 1:, PHI] - particles[:, :1, PHI])
    present = ~np.isnan(original)
    assert np.abs(wrap(relative[present] - original[present])).max() < 1e-5
    assert (np.abs(first[:, 0, PHI]) <= math.pi).all() and np.std(first[:, 0, PHI]) > 1.5


def test_saved_as_a_plain_dict_and_pt_minimum_from_settings():
    multiplicity, particles = recoiling_events()
    settings = {"source": "pythia", "truth": {"jet_ptmin": 20.0, "muon_ptmin": 0.0}}
    preprocessing = Preprocessing.fit(multiplicity, particles, settings)
    assert preprocessing.jet_ptmin == 20.0 and preprocessing.muon_ptmin == 0.0
    loaded = Preprocessing.from_dict(json.loads(json.dumps(preprocessing.to_dict())))
    for a, b in zip(loaded.encode(multiplicity, particles), preprocessing.encode(multiplicity, particles)):
        assert np.array_equal(a, b)
    assert loaded.modelled.tolist() == preprocessing.modelled.tolist()
    with pytest.raises(ValueError, match="pT minimum"):
        Preprocessing.fit(multiplicity, particles)
    with pytest.raises(ValueError, match="below its pT minimum"):
        Preprocessing.fit(multiplicity, particles, jet_ptmin=100.0)
