"""The problem contract: what a problem supplies and the engine relies on.

A problem is a class with a `Params` dataclass (its parameters, with defaults) and
an `__init__(self, params)`. A batch of objects is a numpy array whose first axis
indexes objects. Required:

    vocab_size: int            tokens are 0 .. vocab_size - 1
    max_length: int            most tokens one object encodes to
    initial(count, seed)       -> batch of `count` starting objects
    local_search(batch, seed)  -> improved batch, same length (repair + improve)
    score(batch)               -> float64 array, higher is better
    encode(batch)              -> list of int arrays, one token sequence per object
    decode(sequences)          -> (batch, valid): valid[i] is False when sequence i
                                  was not a well-formed encoding and was patched

Optional (the engine has fallbacks):

    known_best: float | None   best score known; `known_optimal` says it is proven
    canonical_key(batch)       -> uint64 array; equal keys = same object up to symmetry
    verify(obj)                -> score recomputed by an independent check, or raise
                                  ValueError if the object is invalid
    to_native(obj)             -> JSON-ready form for best.json
    render(obj)                -> text for `patternboost show`
    draw(obj, path)            -> write a PNG picture
"""
import dataclasses
import hashlib

import numpy as np

from patternboost.errors import UserError

REQUIRED = ("initial", "local_search", "score", "encode", "decode")


class Problem:
    """Base class with the optional parts of the contract filled in."""

    @dataclasses.dataclass
    class Params:
        pass

    name = "problem"
    vocab_size: int
    max_length: int
    known_best = None
    known_optimal = False

    def __init__(self, params=None):
        self.params = params if params is not None else self.Params()

    def canonical_key(self, batch):
        """Default: objects are equal when their bytes are equal (a stable hash of them)."""
        rows = np.ascontiguousarray(batch).reshape(len(batch), -1)
        digests = [hashlib.blake2b(r.tobytes(), digest_size=8).digest() for r in rows]
        return np.array([int.from_bytes(d, "little") for d in digests], dtype=np.uint64)

    def verify(self, obj):
        return float(self.score(obj[None])[0])

    def to_native(self, obj):
        return np.asarray(obj).tolist()

    def render(self, obj):
        return str(self.to_native(obj))


def object_seeds(seed, count):
    """Per-object uint64 seeds for kernels, derived from one integer seed."""
    rng = np.random.default_rng(seed)
    return rng.integers(1, 2**63, size=count, dtype=np.uint64)


def check_contract(problem, label):
    """Fail with one clear line when a problem lacks what the engine needs."""
    for method in REQUIRED:
        if not callable(getattr(problem, method, None)):
            raise UserError(f"{label}: missing required method {method}()")
    for attr in ("vocab_size", "max_length"):
        value = getattr(problem, attr, None)
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise UserError(f"{label}: {attr} must be a positive integer, got {value!r}")


def check_batch(label, what, batch, expected_len):
    if not isinstance(batch, np.ndarray):
        raise UserError(f"{label}: {what} must return a numpy array, got {type(batch).__name__}")
    if len(batch) != expected_len:
        raise UserError(f"{label}: {what} returned {len(batch)} objects, expected {expected_len}")


def check_scores(label, scores, expected_len):
    if not isinstance(scores, np.ndarray) or scores.shape != (expected_len,):
        shape = getattr(scores, "shape", type(scores).__name__)
        raise UserError(f"{label}: score() must return a float array of shape ({expected_len},), got {shape}")
    if not np.issubdtype(scores.dtype, np.number):
        raise UserError(f"{label}: score() must return numbers, got dtype {scores.dtype}")
    if not np.all(np.isfinite(scores)):
        raise UserError(f"{label}: score() returned NaN or infinite values")
    return scores.astype(np.float64)
