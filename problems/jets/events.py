"""The event file format, shared by truth and generated events, and the statistics both are compared by.

An events file is an .npz holding three arrays:

    multiplicity   int32 (events,)               jets in each event
    particles      float32 (events, width, 4)    rows (pT in GeV, eta, phi, m in GeV): mu+ first, mu- second, then
                                                 the event's jets by decreasing pT; rows past 2 + multiplicity are NaN
    settings       a 0-d string: JSON of every setting that made the events (generator, cuts, seed, versions)

Files are written atomically (a temporary file in the same folder, then os.replace), so a reader never sees half a
file and a killed writer leaves none behind.
"""
import io
import json
import os
import zipfile

import numpy as np

from patternboost import write_atomic

FIELDS = ("pt", "eta", "phi", "m")
MUONS = 2  # rows 0 and 1: mu+ and mu-


def write_events(path, multiplicity, particles, settings, overwrite=False):
    """Write an events file atomically; refuse to replace an existing one unless overwrite."""
    multiplicity, particles = _checked(np.asarray(multiplicity), np.asarray(particles), path)
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists (pass overwrite to replace it)")
    buffer = io.BytesIO()
    np.savez(buffer, multiplicity=multiplicity, particles=particles,
             settings=np.array(json.dumps(settings, sort_keys=True)))
    write_atomic(path, buffer.getvalue())


def read_events(path):
    """(multiplicity, particles, settings dict) of an events file; a one-line ValueError if it is not one."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such events file")
    try:
        with np.load(path, allow_pickle=False) as data:
            multiplicity, particles, text = data["multiplicity"], data["particles"], str(data["settings"][()])
        settings = json.loads(text)
        if not isinstance(settings, dict):
            raise TypeError("settings are not a JSON object")
    except (OSError, ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{path} is not an events file ({detail})") from error
    multiplicity, particles = _checked(multiplicity, particles, path)
    return multiplicity, particles, settings


def _checked(multiplicity, particles, path):
    """The arrays in the file's dtypes, or a one-line ValueError saying how they break the format."""
    if multiplicity.ndim != 1 or not np.issubdtype(multiplicity.dtype, np.integer):
        raise ValueError(f"{path}: multiplicity must be a 1-d integer array")
    if particles.ndim != 3 or particles.shape[0] != len(multiplicity) or particles.shape[2] != len(FIELDS):
        raise ValueError(f"{path}: particles must be (events, width, 4) with one row of events per multiplicity")
    if len(multiplicity) and (multiplicity.min() < 0 or MUONS + multiplicity.max() > particles.shape[1]):
        raise ValueError(f"{path}: multiplicities must lie in 0 .. width - 2 = {particles.shape[1] - MUONS}")
    present = np.arange(particles.shape[1])[None, :] < MUONS + multiplicity[:, None]
    if not np.isfinite(particles[present]).all():
        raise ValueError(f"{path}: NaN or infinite values in a muon or jet row (only padding may be NaN)")
    return multiplicity.astype(np.int32, copy=False), particles.astype(np.float32, copy=False)


def pack(events):
    """(multiplicity, particles) from a list of (muons (2, 4), jets (n, 4)) pairs, padded with NaN."""
    multiplicity = np.array([len(jets) for _, jets in events], dtype=np.int32)
    width = MUONS + (int(multiplicity.max()) if len(events) else 0)
    particles = np.full((len(events), width, len(FIELDS)), np.nan, dtype=np.float32)
    for row, (muons, jets) in enumerate(events):
        particles[row, :MUONS] = muons
        particles[row, MUONS:MUONS + len(jets)] = np.reshape(jets, (-1, len(FIELDS)))
    return multiplicity, particles


def concatenate(pieces):
    """One (multiplicity, particles) from (multiplicity, particles) pieces of different widths, in order."""
    width = max(particles.shape[1] for _, particles in pieces)
    padded = [np.pad(particles, ((0, 0), (0, width - particles.shape[1]), (0, 0)), constant_values=np.nan)
              for _, particles in pieces]
    return np.concatenate([m for m, _ in pieces]).astype(np.int32), np.concatenate(padded).astype(np.float32)


def multiplicity_counts(multiplicity, n_max):
    """Events with exactly n jets, n = 0 .. n_max (events with more are in no bin)."""
    return np.bincount(np.asarray(multiplicity), minlength=n_max + 1)[:n_max + 1]


def multiplicity_fractions(multiplicity, n_max):
    """Fractions of all events with exactly n jets, n = 0 .. n_max."""
    counts = multiplicity_counts(multiplicity, n_max)
    return counts / max(len(multiplicity), 1)


def staircase_ratios(multiplicity, n_max):
    """(R, errors) for n = 0 .. n_max - 1: R_n = sigma(n + 1) / sigma(n), exclusive jet counts.

    The error is the statistical one: for independent Poisson counts N_n, N_n+1 (equally: N_n+1 binomial given
    N_n + N_n+1), var(R) / R^2 = 1 / N_n + 1 / N_n+1. R is NaN where N_n = 0; the error is NaN where either is 0.
    """
    counts = multiplicity_counts(multiplicity, n_max).astype(np.float64)
    below, above = counts[:-1], counts[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(below > 0, above / below, np.nan)
        errors = np.where((below > 0) & (above > 0), ratios * np.sqrt(1 / below + 1 / above), np.nan)
    return ratios, errors
