"""The density contract: learn a distribution of variable-length sequences of real vectors from simulated truth,
and extrapolate it to sequences longer than any trained on (jet events with more jets than the training had).

A sequence is `length` elements of `n_features` real values (a jet event: mu+, mu-, then its jets, each pT, eta,
phi, m). Sequences travel as (lengths int (N,), x float (N, width, n_features), NaN past each length). The model
learns the plugin's encoded form of x (patternboost.mixture: a mixture density per feature, a stop probability
per step). A density plugin is a class with a `Params` dataclass and `__init__(self, params)`, like a task, with

    family = "density"
    n_features, periodic           features per element; indices of those that are angles (von Mises)
    min_length                     elements every sequence has (no stop decision before them)
    train_length                   the longest sequence trained on: longer truth is held out
    max_length                     the longest sequence sampled and evaluated (> train_length: extrapolation)
    train_events, test_events      truth sequences made in round 0 for training (before the length cut) and for
                                   the held-out test
    extrapolation                  an Extrapolation: the method and its knobs
    truth(count, seed)             -> (lengths, x): `count` truth sequences; called in worker processes
    fit(lengths, x)                -> a JSON-ready dict: the preprocessing, fitted on the training truth
    encode(lengths, x, fitted)     -> float32 (N, width, n_features): model inputs, 0 past each length, finite
    decode(lengths, x, fitted, seed) -> raw x of model arrays (seed: for what the model does not carry)
    evaluate(truth, generated, fitted) -> {name: JSON-ready scalar}: generated sequences against held-out truth
                                   (the truth's x is cut to max_length elements; longer ones keep their lengths)

Optional:

    n_types, components            type embeddings by position (0 the start), mixture components (default 10)
    modelled(fitted)               -> (rows, n_features) bool of the features the model learns (the last row for
                                      every later element), or None for all
    report(record)                 -> text lines of a round's metrics (`patternboost show`)
    plot(truth, generated, fitted, prefix) -> PNG files written at prefix*.png
    save(path, lengths, x, settings) the plugin's file format for `patternboost sample --out`
    settings: dict                 engine settings it recommends
"""
import dataclasses
import numbers
import typing

from patternboost.errors import UserError

REQUIRED = ("truth", "fit", "encode", "decode", "evaluate")
METHODS = ("full", "reduced", "perturbed", "bootstrap")


@dataclasses.dataclass
class Extrapolation:
    """How training reaches lengths it has no truth for (the methods of Butter et al., arXiv 2412.12074).

    full        the plain likelihood: learns to stop at train_length for certain (the baseline)
    reduced     no stop term at the end of train_length sequences: the stop there is left to the network
    perturbed   the stop target at the end of train_length sequences is stop_target instead of 1; by default
                (stop_target < 0) 1 - N(train_length) / N(train_length - 1) of the training truth: the stop
                probability that a geometric length distribution (QCD's staircase scaling) would have there
    bootstrap   reduced for `warmup` steps; then every `every` steps the model samples `samples` sequences and
                those longer than train_length join a FIFO of `buffer`; each batch row is a FIFO sequence with
                probability `share` (0: the share of sampled sequences that were longer, the model's own rate, so
                the batch restores the mass the length cut removed), scored without the stop at its end
    """
    method: str = "full"
    stop_target: float = -1.0
    warmup: int = 500
    every: int = 50
    samples: int = 2000
    buffer: int = 20000
    share: float = 0.0

    def validate(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if not self.stop_target < 1:
            raise ValueError(f"stop_target must be in [0, 1) (or negative: from the staircase), got {self.stop_target}")
        if self.warmup < 0 or self.every < 1 or self.samples < 1 or self.buffer < 1 or not 0 <= self.share < 1:
            raise ValueError("bootstrap needs warmup >= 0, every, samples and buffer >= 1, and share in [0, 1)")
        return self


class Density:
    """Base class: parameters, the engine's name for the plugin, and its family."""

    @dataclasses.dataclass
    class Params:
        pass

    name = "density"
    family = "density"
    n_types = 0
    components = 10
    settings: typing.ClassVar[dict] = {}

    def __init__(self, params=None):
        self.params = params if params is not None else self.Params()

    def modelled(self, fitted):
        return None


def check_contract(plugin, label):
    for method in REQUIRED:
        if not callable(getattr(plugin, method, None)):
            raise UserError(f"{label}: missing required method {method}()")
    for attr in ("n_features", "min_length", "train_length", "max_length", "train_events", "test_events"):
        value = getattr(plugin, attr, None)
        if not isinstance(value, numbers.Integral) or value < 0:
            raise UserError(f"{label}: {attr} must be a non-negative integer, got {value!r}")
    if plugin.n_features < 1 or plugin.train_events < 1 or plugin.test_events < 1:
        raise UserError(f"{label}: n_features, train_events and test_events must be at least 1")
    if not plugin.min_length <= plugin.train_length <= plugin.max_length:
        raise UserError(f"{label}: need min_length <= train_length <= max_length")
    periodic = tuple(getattr(plugin, "periodic", ()))
    if not all(isinstance(k, numbers.Integral) and 0 <= k < plugin.n_features for k in periodic):
        raise UserError(f"{label}: periodic must list feature indices below n_features")
    extrapolation = getattr(plugin, "extrapolation", None)
    if not isinstance(extrapolation, Extrapolation):
        raise UserError(f"{label}: extrapolation must be a patternboost.density.Extrapolation")
    try:
        extrapolation.validate()
    except ValueError as exc:
        raise UserError(f"{label}: {exc}") from None
