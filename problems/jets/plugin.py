"""Jet events as a density plugin: learn Z(-> mu mu) + jets events with up to n_max jets, generate events with more.

    patternboost run jets --set n_max=3 --set method=bootstrap         # Pythia 8 truth (the jets extra)
    patternboost run jets --set truth=toy --set method=reduced          # the exact toy truth (numpy only)
    patternboost show RUN                                               # the staircase and the kinematics
    patternboost sample RUN --count 100000 --out generated.npz          # events in the truth's file format

Round 0 makes `train_events` truth events (those with at most n_max jets are the training set) and `test_events`
held-out ones of every multiplicity, with Pythia 8 + FastJet (problems/jets/truth.py) or the toy
(problems/jets/toy.py, whose staircase ratio is exact), through the executor. Events are the sequences mu+, mu-,
j1 .. jn of (pT, eta, phi, m), preprocessed by problems/jets/preprocess.py; the model samples up to n_max +
`extrapolate` jets, and problems/jets/evaluate.py compares them with the held-out truth each round.
"""
import dataclasses
import typing

import numpy as np

from patternboost import Density
from patternboost.density import Extrapolation
from problems.jets import evaluate
from problems.jets.events import MUONS, write_events
from problems.jets.preprocess import PERIODIC, Preprocessing
from problems.jets.toy import toy_events, toy_ratio
from problems.jets.truth import EXTRA_MESSAGE, MAX_PYTHIA_SEED, TruthSettings, generate_chunk, require_extra

TOY_PT_MAX = 500.0


class Jets(Density):
    """Z(-> mu+ mu-) + jets events at 13 TeV: a mixture-density transformer that extrapolates in jet multiplicity."""

    @dataclasses.dataclass
    class Params:
        truth: str = "pythia"  # pythia (Pythia 8 + FastJet, the jets extra) | toy (exact staircase, numpy only)
        n_max: int = 3  # the most jets in a training event
        extrapolate: int = 2  # jets beyond n_max that the model samples and the evaluation measures
        method: str = "bootstrap"  # full | reduced | perturbed | bootstrap (patternboost.density.Extrapolation)
        stop_target: float = -1.0  # perturbed: the stop target of n_max-jet events (full: 1); < 0: 1 - R_(n_max - 1)
        bootstrap_warmup: int = 1000  # bootstrap: training steps (over the run) before the first sampling
        bootstrap_every: int = 50  # bootstrap: steps between samplings
        bootstrap_samples: int = 2000  # bootstrap: events per sampling
        bootstrap_buffer: int = 20000  # bootstrap: the FIFO of generated (n_max + 1)-jet events
        bootstrap_share: float = 0.0  # bootstrap: each batch row a FIFO event with this chance (0: the model's rate)
        train_events: int = 100000  # truth events made for training (those with more than n_max jets are dropped)
        test_events: int = 200000  # held-out truth events, every multiplicity
        level: str = "parton"  # pythia: parton (showers only) | hadron (MPI and hadronisation)
        jet_ptmin: float = 20.0  # GeV
        jet_etamax: float = 5.0
        jet_r: float = 0.4  # anti-kT radius
        toy_rate: float = 0.09  # toy: emissions per unit log pT; staircase ratio 1 - (20/500)^rate = 0.252

    name = "jets"
    n_features = 4
    periodic = PERIODIC
    n_types = 4  # start, mu+, mu-, jet
    min_length = MUONS
    # A CPU configuration: a small model, large batches (events are short), 2,000 steps a round, 200,000 events
    # sampled for each evaluation, the truth made by worker processes.
    settings: typing.ClassVar[dict] = {
        "train.steps": 2000, "train.batch_size": 256, "train.lr": 1e-3, "train.warmup": 200,
        "model.n_layer": 4, "model.n_head": 4, "model.n_embd": 64, "model.position": "rope",
        "sample.count": 200000, "sample.batch_size": 20000, "executor.kind": "process", "loop.rounds": 3}

    def __init__(self, params=None):
        super().__init__(params)
        p = self.params
        if p.truth not in ("pythia", "toy"):
            raise ValueError(f"truth must be pythia or toy, got {p.truth!r}")
        if p.n_max < 1 or p.extrapolate < 1:
            raise ValueError("n_max and extrapolate must be at least 1")
        if p.train_events < 1 or p.test_events < 1:
            raise ValueError("train_events and test_events must be at least 1")
        self.extrapolation = Extrapolation(p.method, p.stop_target, p.bootstrap_warmup, p.bootstrap_every,
                                           p.bootstrap_samples, p.bootstrap_buffer, p.bootstrap_share).validate()
        if p.truth == "pythia":
            try:
                require_extra()
            except ImportError:
                raise ValueError(EXTRA_MESSAGE) from None
            self.truth_settings = TruthSettings(level=p.level, jet_r=p.jet_r, jet_ptmin=p.jet_ptmin,
                                                jet_etamax=p.jet_etamax).validate()
        elif not 0 < p.jet_ptmin < TOY_PT_MAX or p.toy_rate <= 0:
            raise ValueError(f"the toy needs 0 < jet_ptmin < {TOY_PT_MAX:g} and toy_rate > 0")
        self.train_length, self.max_length = MUONS + p.n_max, MUONS + p.n_max + p.extrapolate
        self.train_events, self.test_events = p.train_events, p.test_events

    # --- truth ------------------------------------------------------------------------------------------------

    def truth(self, count, seed):
        p = self.params
        if p.truth == "toy":
            multiplicity, particles = toy_events(count, seed, p.toy_rate, TOY_PT_MAX, p.jet_ptmin)
        else:
            multiplicity, particles = generate_chunk(self.truth_settings.to_dict(), count,
                                                     1 + seed % (MAX_PYTHIA_SEED - 1))
        return multiplicity + MUONS, particles

    def exact_ratio(self):
        """The toy's staircase ratio, known in closed form (None for Pythia)."""
        p = self.params
        return toy_ratio(p.toy_rate, TOY_PT_MAX, p.jet_ptmin) if p.truth == "toy" else None

    # --- the model's arrays -----------------------------------------------------------------------------------

    def fit(self, lengths, x):
        return Preprocessing.fit(lengths - MUONS, x, jet_ptmin=self.params.jet_ptmin, muon_ptmin=0.0).to_dict()

    def encode(self, lengths, x, fitted):
        return Preprocessing.from_dict(fitted).encode(lengths - MUONS, x)[1]

    def decode(self, lengths, x, fitted, seed):
        return Preprocessing.from_dict(fitted).decode(lengths, x, seed=seed)[1]

    def modelled(self, fitted):
        return Preprocessing.from_dict(fitted).modelled

    # --- evaluation ---------------------------------------------------------------------------------------------

    def evaluate(self, truth, generated, fitted):
        metrics = evaluate.compare(truth, generated, self.params.n_max, self.max_length - MUONS)
        exact = self.exact_ratio()
        return metrics if exact is None else {**metrics, "R_exact": exact}

    def report(self, record):
        lines = evaluate.report(record, self.params.n_max, self.max_length - MUONS)
        exact = record.get("R_exact")
        return lines + ([] if exact is None else [f"exact toy R_n = {exact:.4f} for every n"])

    def summary(self, record):
        return evaluate.summary(record, self.params.n_max)

    def plot(self, truth, generated, fitted, prefix):
        evaluate.plot(truth, generated, self.params.n_max, self.max_length - MUONS, prefix)

    def save(self, path, lengths, x, settings):
        write_events(path, np.asarray(lengths) - MUONS, x,
                     {"generated": settings, "jets": dataclasses.asdict(self.params)})
