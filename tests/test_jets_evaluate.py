"""The comparison of generated events with truth: W1 against scipy, chi^2 near 1 for the same distribution and
large for a shifted one, and toy events compared with toy events of another seed."""
import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from problems.jets.evaluate import chi2_per_bin, compare, observables, report
from problems.jets.toy import toy_events


def test_wasserstein_matches_scipy():
    from problems.jets.evaluate import wasserstein

    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 700), rng.exponential(1.0, 300)
    assert wasserstein(a, b) == pytest.approx(wasserstein_distance(a, b), rel=1e-9)


def test_chi2_per_bin_is_near_one_for_one_distribution_and_large_for_another():
    rng = np.random.default_rng(1)
    same = [chi2_per_bin(rng.normal(0, 1, 5000), rng.normal(0, 1, 2000)) for _ in range(20)]
    assert 0.6 < np.mean(same) < 1.4
    assert chi2_per_bin(rng.normal(0, 1, 5000), rng.normal(0.3, 1, 2000)) > 5


def toy(count, seed):
    multiplicity, particles = toy_events(count, seed, rate=0.2)
    return multiplicity + 2, particles


def test_toy_against_toy_agrees_within_errors_and_the_report_marks_the_extrapolation():
    metrics = compare(toy(60000, 1), toy(60000, 2), n_max=2, top=4)
    for n in range(4):
        difference = metrics[f"R{n}"] - metrics[f"R{n}_truth"]
        assert abs(difference) < 4 * np.hypot(metrics[f"R{n}_err"], metrics[f"R{n}_truth_err"])
    assert abs(metrics["R2_rel_error"]) < 0.15 and set(metrics) >= {"w1_pt_j4", "chi2_dr_j3", "frac_4_truth"}
    assert all(metrics[k] < 3 for k in metrics if k.startswith("chi2_") and metrics[k] is not None)
    lines = report(metrics, n_max=2, top=4)
    assert any(line.startswith("  3 *") for line in lines) and any(line.startswith("  2  ") for line in lines)


def test_a_model_that_never_extrapolates_has_no_extrapolated_kinematics():
    lengths, x = toy(20000, 3)
    cut = lengths <= 4
    metrics = compare(toy(20000, 4), (lengths[cut], x[cut]), n_max=2, top=4)
    assert metrics["R2"] == 0 and metrics["R2_rel_error"] == -1
    assert metrics["w1_pt_j3"] is None and metrics["R3"] is None and metrics["R3_rel_error"] is None


def test_observables_of_the_softest_jet():
    lengths, x = toy(500, 5)
    obs = observables(x[lengths == 5], 3)
    assert set(obs) == {"pt_j3", "eta_j3", "dphi_j1j3", "dr_j3"}
    assert (obs["pt_j3"] >= 20).all() and (obs["dphi_j1j3"] <= np.pi).all() and (obs["dr_j3"] >= 0).all()
