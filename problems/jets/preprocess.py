"""Jet events <-> the arrays a continuous model learns, fitted on truth events and exactly invertible.

Each particle row (pT, eta, phi, m) becomes, by slot class (mu+, mu-, jet):

    pT    log(pT - pT_min + offset), standardised: pT_min is the jet cut for jets (the muon cut for muons), so the
          steep spectrum just above the cut spreads out and a sampled pT never falls below pT_min - offset
    eta   standardised
    phi   phi - phi(mu+), wrapped to (-pi, pi]: events are symmetric under rotations, so only relative angles carry
          information. Kept as an angle, not standardised: the model's von Mises density needs the angle itself
    m     standardised

A feature that is constant over the truth events of a class (phi of mu+ after the rotation, a muon's mass) is not
modelled: it encodes to 0 and decodes to its constant. `modelled` says which are; pass it and `min_length` to
patternboost.mixture.log_likelihood and sample. The rotation phi(mu+) of each event is returned by encode, so
decode inverts encode exactly; for generated events decode draws it uniformly.
"""
import dataclasses
import math

import numpy as np

from problems.jets.events import FIELDS, MUONS

PT, ETA, PHI, MASS = range(len(FIELDS))
CLASSES = ("mu+", "mu-", "jet")  # slot classes: rows 0, 1, then every jet
PERIODIC = (PHI,)  # feature indices that are angles: the model's GPTConfig.periodic
CONSTANT_TOLERANCE = 1e-5  # a feature whose spread is below this (relative, or in radians) is constant


def wrap(angle):
    """Angles to (-pi, pi]."""
    return angle - 2 * math.pi * np.ceil((angle - math.pi) / (2 * math.pi))


def slot_classes(width):
    """(width,) class index of each particle row: 0 mu+, 1 mu-, 2 jet."""
    return np.minimum(np.arange(width), len(CLASSES) - 1)


def ptmin_from_settings(settings):
    """(jet pT minimum, muon pT minimum) of an events file's settings (a truth file records them); None if absent."""
    truth = (settings or {}).get("truth", {})
    return truth.get("jet_ptmin"), truth.get("muon_ptmin", 0.0)


@dataclasses.dataclass
class Preprocessing:
    jet_ptmin: float
    muon_ptmin: float
    pt_offset: float
    mean: np.ndarray  # (3, 4) per class and feature, of the transformed features (phi: 0, or its constant)
    std: np.ndarray  # (3, 4); 1 for phi (not standardised)
    constant: np.ndarray  # (3, 4) bool: not modelled, decoded to the mean

    min_length = MUONS  # every event has its two muons: no stop decision before them

    @classmethod
    def fit(cls, multiplicity, particles, settings=None, jet_ptmin=None, muon_ptmin=None, pt_offset=0.01):
        """Fit on truth events; pT minima from the arguments, else from the file's settings."""
        stored_jet, stored_muon = ptmin_from_settings(settings)
        jet_ptmin = stored_jet if jet_ptmin is None else jet_ptmin
        muon_ptmin = (stored_muon or 0.0) if muon_ptmin is None else muon_ptmin
        if jet_ptmin is None:
            raise ValueError("the jet pT minimum is neither given nor in the events' settings")
        shell = cls(float(jet_ptmin), float(muon_ptmin), float(pt_offset), np.zeros((3, 4)), np.ones((3, 4)),
                    np.zeros((3, 4), dtype=bool))
        raw, present = shell._transformed(multiplicity, particles)
        classes = slot_classes(raw.shape[1])
        mean, std, constant = np.zeros((3, 4)), np.ones((3, 4)), np.zeros((3, 4), dtype=bool)
        for c in range(len(CLASSES)):
            rows = raw[present & (classes == c)[None, :]]
            if not len(rows):
                raise ValueError(f"no {CLASSES[c]} rows in the events to fit on")
            for k in range(len(FIELDS)):
                mean[c, k], std[c, k], constant[c, k] = _statistics(rows[:, k], periodic=k in PERIODIC)
        return cls(shell.jet_ptmin, shell.muon_ptmin, shell.pt_offset, mean, std, constant)

    @property
    def modelled(self):
        """(3, 4) bool rows for mu+, mu-, jet (the last row stands for every jet): the features the model learns."""
        return ~self.constant

    def encode(self, multiplicity, particles):
        """(lengths int64 (events,), x float32 (events, width, 4) with 0 padding, phi of mu+ float64 (events,))."""
        raw, present = self._transformed(multiplicity, particles)
        classes = slot_classes(raw.shape[1])
        mean, std, constant = self.mean[classes], self.std[classes], self.constant[classes]
        x = np.where(constant, 0.0, (raw - mean) / std)
        x = np.where(present[..., None], x, 0.0)
        phi0 = np.asarray(particles, dtype=np.float64)[:, 0, PHI]
        return np.asarray(multiplicity, dtype=np.int64) + MUONS, x.astype(np.float32), phi0

    def decode(self, lengths, x, phi0=None, seed=None):
        """(multiplicity int32, particles float32 NaN-padded) of model arrays; the inverse of encode. Without
        phi0 (generated events) each event's rotation is drawn uniformly from a generator seeded by seed."""
        lengths = np.asarray(lengths, dtype=np.int64)
        x = np.asarray(x, dtype=np.float64)
        classes = slot_classes(x.shape[1])
        mean, std, constant = self.mean[classes], self.std[classes], self.constant[classes]
        raw = np.where(constant, mean, x * std + mean)
        if phi0 is None:
            phi0 = np.random.default_rng(seed).uniform(-math.pi, math.pi, len(lengths))
        particles = np.empty_like(raw)
        particles[..., PT] = np.exp(raw[..., PT]) - self.pt_offset + self._ptmin(classes)
        particles[..., ETA] = raw[..., ETA]
        particles[..., PHI] = wrap(raw[..., PHI] + np.asarray(phi0, dtype=np.float64)[:, None])
        particles[..., MASS] = raw[..., MASS]
        present = np.arange(x.shape[1])[None, :] < lengths[:, None]
        particles[~present] = np.nan
        return (lengths - MUONS).astype(np.int32), particles.astype(np.float32)

    def to_dict(self):
        """Plain JSON-ready values, for checkpoints and run files."""
        return {"jet_ptmin": self.jet_ptmin, "muon_ptmin": self.muon_ptmin, "pt_offset": self.pt_offset,
                "mean": self.mean.tolist(), "std": self.std.tolist(), "constant": self.constant.tolist()}

    @classmethod
    def from_dict(cls, values):
        return cls(float(values["jet_ptmin"]), float(values["muon_ptmin"]), float(values["pt_offset"]),
                   np.array(values["mean"], dtype=np.float64), np.array(values["std"], dtype=np.float64),
                   np.array(values["constant"], dtype=bool))

    def _ptmin(self, classes):
        return np.where(classes == len(CLASSES) - 1, self.jet_ptmin, self.muon_ptmin)

    def _transformed(self, multiplicity, particles):
        """(raw (events, width, 4) float64 before standardising, 0 in padding; present (events, width) bool)."""
        particles = np.asarray(particles, dtype=np.float64)
        multiplicity = np.asarray(multiplicity)
        present = np.arange(particles.shape[1])[None, :] < MUONS + multiplicity[:, None]
        classes = slot_classes(particles.shape[1])
        rows = np.where(present[..., None], particles, 0.0)
        raw = rows.copy()
        shifted = rows[..., PT] - self._ptmin(classes) + self.pt_offset
        if (shifted[present] <= 0).any():
            raise ValueError("a particle's pT lies below its pT minimum minus the offset")
        raw[..., PT] = np.log(np.where(present, shifted, 1.0))
        raw[..., PHI] = np.where(present, wrap(rows[..., PHI] - rows[:, :1, PHI]), 0.0)
        return raw, present


def _statistics(values, periodic):
    """(mean, std, constant) of one feature of one class. Angles stay as they are (mean 0, std 1) unless constant,
    when the mean is their circular mean, the value they decode to."""
    if periodic:
        resultant = np.mean(np.exp(1j * values))
        spread = math.sqrt(max(-2 * math.log(max(abs(resultant), 1e-300)), 0.0))  # the circular std
        constant = spread < CONSTANT_TOLERANCE
        return float(np.angle(resultant)) if constant else 0.0, 1.0, constant
    mean, std = float(values.mean()), float(values.std())
    constant = std < CONSTANT_TOLERANCE * max(1.0, abs(mean))
    return mean, std if not constant else 1.0, constant
