"""Generated jet events against held-out truth: the multiplicity staircase and the kinematics of the jets.

    fractions       frac_n (generated) and frac_n_truth: the share of events with exactly n jets, n = 0 .. top
    ratios          R{n} = sigma(n+1) / sigma(n), n = 0 .. top - 1, with statistical errors (events.staircase_ratios),
                    and R{n}_rel_error = R{n} / R{n}_truth - 1 at n = n_max and n_max + 1 (the extrapolation)
    kinematics      in the events with exactly n jets, n = n_max .. top, for the softest jet (jet n): pT, eta,
                    delta phi to the hardest jet, and the delta R to the nearest other jet; each generated
                    distribution against the truth one as a Wasserstein-1 distance (w1_*, in GeV for pT) and a
                    histogram chi^2 per bin (chi2_*, 20 bins at truth quantiles; about 1 for a perfect model
                    at these statistics, larger the worse). None where either side has fewer than MIN_EVENTS events.

top = n_max + extrapolated jets (2 by default).
"""
import io
import math
import os

import numpy as np

from patternboost import write_atomic
from problems.jets.events import MUONS, multiplicity_counts, staircase_ratios
from problems.jets.preprocess import ETA, PHI, PT, wrap

MIN_EVENTS = 20
BINS = 20


def compare(truth, generated, n_max, top):
    """Metrics (a flat dict of JSON-ready scalars) of generated events against truth; each is (lengths, x) with
    lengths = 2 + jets."""
    (t_lengths, t_x), (g_lengths, g_x) = truth, generated
    t_jets, g_jets = np.asarray(t_lengths) - MUONS, np.asarray(g_lengths) - MUONS
    metrics = {}
    for name, jets in (("", g_jets), ("_truth", t_jets)):
        counts = multiplicity_counts(jets, top)
        for n, count in enumerate(counts):
            metrics[f"frac_{n}{name}"] = count / max(len(jets), 1)
        ratios, errors = staircase_ratios(jets, top)
        for n, (ratio, error) in enumerate(zip(ratios, errors)):
            metrics[f"R{n}{name}"], metrics[f"R{n}{name}_err"] = number(ratio), number(error)
    for n in (n_max, n_max + 1):
        if n < top:
            got, want = metrics[f"R{n}"], metrics[f"R{n}_truth"]
            metrics[f"R{n}_rel_error"] = None if got is None or not want else got / want - 1
    for n in range(max(n_max, 1), top + 1):
        t_obs, g_obs = observables(t_x[t_jets == n], n), observables(g_x[g_jets == n], n)
        for key in t_obs:
            enough = len(t_obs[key]) >= MIN_EVENTS and len(g_obs[key]) >= MIN_EVENTS
            metrics[f"w1_{key}"] = wasserstein(t_obs[key], g_obs[key]) if enough else None
            metrics[f"chi2_{key}"] = chi2_per_bin(t_obs[key], g_obs[key]) if enough else None
    return metrics


def number(value):
    return None if not math.isfinite(value) else float(value)


def observables(x, n):
    """{name: values} of the softest jet of n-jet events x (events, width, 4)."""
    jet = x[:, MUONS + n - 1].astype(np.float64)
    obs = {f"pt_j{n}": jet[:, PT], f"eta_j{n}": jet[:, ETA]}
    if n >= 2:
        others = x[:, MUONS:MUONS + n - 1].astype(np.float64)
        obs[f"dphi_j1j{n}"] = np.abs(wrap(jet[:, PHI] - others[:, 0, PHI]))
        d_eta = jet[:, None, ETA] - others[..., ETA]
        d_phi = wrap(jet[:, None, PHI] - others[..., PHI])
        obs[f"dr_j{n}"] = np.sqrt(d_eta**2 + d_phi**2).min(axis=1)
    return obs


def wasserstein(a, b):
    """The Wasserstein-1 distance of two samples: the area between their empirical CDFs."""
    a, b = np.sort(a), np.sort(b)
    grid = np.sort(np.concatenate((a, b)))
    cdf_a = np.searchsorted(a, grid[:-1], side="right") / len(a)
    cdf_b = np.searchsorted(b, grid[:-1], side="right") / len(b)
    return float(np.sum(np.abs(cdf_a - cdf_b) * np.diff(grid)))


def chi2_per_bin(truth, generated):
    """Pearson chi^2 of two histograms of different totals, per bin, bins at the truth's quantiles (open ends)."""
    edges = np.unique(np.quantile(truth, np.linspace(0, 1, BINS + 1)[1:-1]))
    t = np.bincount(np.searchsorted(edges, truth), minlength=len(edges) + 1).astype(np.float64)
    g = np.bincount(np.searchsorted(edges, generated), minlength=len(edges) + 1).astype(np.float64)
    nt, ng = t.sum(), g.sum()
    used = (t + g) > 0
    chi2 = ((t * math.sqrt(ng / nt) - g * math.sqrt(nt / ng)) ** 2 / (t + g))[used].sum()
    return float(chi2 / max(used.sum() - 1, 1))


# ---- text ------------------------------------------------------------------------------------------------------

def report(record, n_max, top):
    """The staircase and the kinematic distances of one round's metrics, as text lines."""
    lines = ["jets   fraction (truth)       generated        R_n truth          R_n generated"]
    for n in range(top + 1):
        ratio = ""
        if n < top:
            ratio = f"{fmt(record.get(f'R{n}_truth'), record.get(f'R{n}_truth_err')):>18} " \
                    f"{fmt(record.get(f'R{n}'), record.get(f'R{n}_err')):>18}"
        mark = " *" if n > n_max else "  "
        lines.append(f"{n:>3}{mark} {record.get(f'frac_{n}_truth', 0):>14.3e} {record.get(f'frac_{n}', 0):>16.3e}  {ratio}")
    lines.append("(* beyond the training multiplicities)")
    for n in (n_max, n_max + 1):
        value = record.get(f"R{n}_rel_error")
        if value is not None:
            lines.append(f"R{n} relative error: {value:+.1%}")
    keys = sorted(k[3:] for k in record if k.startswith("w1_"))
    if keys:
        lines.append("kinematics (softest jet of n-jet events)   W1         chi2/bin")
        for key in keys:
            w1, chi2 = record[f"w1_{key}"], record[f"chi2_{key}"]
            lines.append(f"  {key:<40} {'-' if w1 is None else f'{w1:.4g}':>9} {'-' if chi2 is None else f'{chi2:.2f}':>12}")
    return lines


def fmt(value, error):
    if value is None:
        return "-"
    return f"{value:.4f} ± {error:.4f}" if error is not None else f"{value:.4f}"


def summary(record, n_max):
    parts = []
    for n in (n_max, n_max + 1):
        if f"R{n}" in record or f"R{n}_truth" in record:
            got, want = record.get(f"R{n}"), record.get(f"R{n}_truth")
            parts.append(f"R{n} {'-' if got is None else f'{got:.3f}'} (truth {'-' if want is None else f'{want:.3f}'})")
    return ", ".join(parts)


# ---- plots -----------------------------------------------------------------------------------------------------

def plot(truth, generated, n_max, top, prefix):
    """prefix-staircase.png (jet multiplicity fractions, truth with errors, against generated) and
    prefix-jet{n_max + 1}.png (the kinematics of the first extrapolated jet). Needs matplotlib (the jets extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    os.makedirs(os.path.dirname(prefix) or ".", exist_ok=True)
    (t_lengths, t_x), (g_lengths, g_x) = truth, generated
    t_jets, g_jets = np.asarray(t_lengths) - MUONS, np.asarray(g_lengths) - MUONS
    n = np.arange(top + 1)
    t_counts, g_counts = multiplicity_counts(t_jets, top), multiplicity_counts(g_jets, top)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.errorbar(n, t_counts / len(t_jets), yerr=np.sqrt(t_counts) / len(t_jets), fmt="o", color="k", label="truth")
    ax.step(n, g_counts / max(len(g_jets), 1), where="mid", color="C1", label="generated")
    ax.axvspan(n_max + 0.5, top + 0.5, color="0.9", label="extrapolated")
    ax.set(yscale="log", xlabel="jets", ylabel="fraction of events", xticks=n)
    ax.legend()
    paths = [save(fig, f"{prefix}-staircase.png")]
    k = n_max + 1
    t_obs, g_obs = observables(t_x[t_jets == k], k), observables(g_x[g_jets == k], k)
    fig, axes = plt.subplots(1, len(t_obs), figsize=(4 * len(t_obs), 3.5))
    for ax, key in zip(np.atleast_1d(axes), t_obs):
        values = np.concatenate((t_obs[key], g_obs[key]))
        if not len(values):
            continue
        bins = np.linspace(np.quantile(values, 0.005), np.quantile(values, 0.995), 30)
        ax.hist(t_obs[key], bins=bins, density=True, histtype="step", color="k", label=f"truth ({len(t_obs[key])})")
        ax.hist(g_obs[key], bins=bins, density=True, histtype="step", color="C1",
                label=f"generated ({len(g_obs[key])})")
        ax.set(xlabel=key, yscale="log" if key.startswith("pt") else "linear")
        ax.legend(fontsize=7)
    paths.append(save(fig, f"{prefix}-jet{k}.png"))
    return paths


def save(fig, path):
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
    return path
