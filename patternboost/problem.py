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
    settings: dict             engine settings this problem recommends, e.g. {"loop.initial": 20000};
                               the user's --config and --set override them
    increasing: bool           every encoding lists a set in increasing token order: sampling then masks
                               tokens not above the previous one, so no sample breaks the order
    separator: int | None      with increasing: the encoding lists several sets, each in order and ended by
                               this token (a graph's neighbour lists); the order starts again after it
    canonical_key(batch)       -> uint64 array; objects equal up to symmetry get equal keys (rare
                                  collisions merge distinct objects in the pool)
    verify(obj)                -> score recomputed by an independent check, or raise
                                  ValueError if the object is invalid
    to_native(obj)             -> JSON-ready form for best.json
    render(obj)                -> text for `patternboost show`
    draw(obj, path)            -> write a PNG picture
"""
import dataclasses
import hashlib
import json
import sys
import time
import typing

import numpy as np

from patternboost.errors import UserError

REQUIRED = ("initial", "local_search", "score", "encode", "decode")
SLOW_SEARCH_S = 10.0  # a probe search slower than this is announced (the run directory does not exist yet)


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
    increasing = False
    separator = None
    settings: typing.ClassVar[dict] = {}

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


def check_batch(label, what, batch, expected_len, like=None):
    """A batch of `expected_len` objects; with `like`, of the same object shape and dtype (the pool stacks them)."""
    if not isinstance(batch, np.ndarray) or batch.ndim == 0:
        raise UserError(f"{label}: {what} must return a numpy array, got {type(batch).__name__}")
    if len(batch) != expected_len:
        raise UserError(f"{label}: {what} returned {len(batch)} objects, expected {expected_len}")
    if like is not None and (batch.shape[1:] != like.shape[1:] or batch.dtype != like.dtype):
        raise UserError(f"{label}: {what} returned objects of shape {batch.shape[1:]} and dtype {batch.dtype}, "
                        f"but initial() gives shape {like.shape[1:]} and dtype {like.dtype}")


def check_scores(label, scores, expected_len):
    if not isinstance(scores, np.ndarray) or scores.shape != (expected_len,):
        shape = getattr(scores, "shape", type(scores).__name__)
        raise UserError(f"{label}: score() must return a float array of shape ({expected_len},), got {shape}")
    if not np.issubdtype(scores.dtype, np.number):
        raise UserError(f"{label}: score() must return numbers, got dtype {scores.dtype}")
    if not np.all(np.isfinite(scores)):
        raise UserError(f"{label}: score() returned NaN or infinite values")
    return scores.astype(np.float64)


def check_sequences(label, sequences, expected_len, vocab_size, max_length):
    if not isinstance(sequences, (list, tuple, np.ndarray)) or len(sequences) != expected_len:
        got = len(sequences) if isinstance(sequences, (list, tuple, np.ndarray)) else type(sequences).__name__
        raise UserError(f"{label}: encode() must return a list of {expected_len} token arrays, got {got}")
    for seq in sequences:
        seq = np.asarray(seq)
        if seq.ndim != 1 or (len(seq) and not np.issubdtype(seq.dtype, np.integer)):
            raise UserError(f"{label}: encode() must give 1-D integer token arrays, got shape {seq.shape} "
                            f"and dtype {seq.dtype}")
        if len(seq) > max_length:
            raise UserError(f"{label}: encode() gave {len(seq)} tokens, more than max_length = {max_length}")
        if len(seq) and (seq.min() < 0 or seq.max() >= vocab_size):
            raise UserError(f"{label}: encode() gave token {seq.max() if seq.max() >= vocab_size else seq.min()}, "
                            f"outside 0 .. vocab_size - 1 = {vocab_size - 1}")


def _call(label, what, fn, *args):
    """Call a plugin method; its own exceptions become one line naming the plugin and the method."""
    try:
        return fn(*args)
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"{label}: {what} raised {type(exc).__name__}: {exc}") from exc


def in_order(sequence, separator=None):
    """Whether each set of the sequence (all of it, or each part ended by `separator`) is strictly increasing."""
    sequence = np.asarray(sequence)
    parts = [sequence] if separator is None else np.split(sequence, np.flatnonzero(sequence == separator) + 1)
    return all(np.all(np.diff(part[part != separator]) > 0) for part in parts)


def probe(problem, label, count=2):
    """Call every method of the contract on a few objects, before a run spends time or writes anything.

    Checks return types and shapes, that encode() and decode() invert each other (same canonical key) and that
    an `increasing` encoding is in order, that
    malformed sequences decode and survive local search, and that verify() agrees with score()."""
    objects = _call(label, "initial()", problem.initial, count, 0)
    check_batch(label, "initial()", objects, count)
    started = time.monotonic()
    improved = _call(label, "local_search()", problem.local_search, objects, 0)
    took = time.monotonic() - started
    if took > SLOW_SEARCH_S:  # an expensive kernel: say why nothing else happens yet
        print(f"{label}: checking the problem before the run starts; its local search took {took:.0f} s, "
              f"one more takes about as long", file=sys.stderr, flush=True)
    check_batch(label, "local_search()", improved, count, like=objects)
    scores = check_scores(label, _call(label, "score()", problem.score, improved), count)
    keys = np.asarray(_call(label, "canonical_key()", problem.canonical_key, improved))
    if keys.shape != (count,) or not np.issubdtype(keys.dtype, np.integer):
        raise UserError(f"{label}: canonical_key() must return one integer per object, got shape {keys.shape} "
                        f"and dtype {keys.dtype}")
    sequences = _call(label, "encode()", problem.encode, improved)
    check_sequences(label, sequences, count, problem.vocab_size, problem.max_length)
    separator = getattr(problem, "separator", None)
    if separator is not None and not (getattr(problem, "increasing", False) and 0 <= separator < problem.vocab_size):
        raise UserError(f"{label}: separator must be a token (0 .. vocab_size - 1) of an increasing encoding, "
                        f"got {separator!r}")
    if getattr(problem, "increasing", False) and not all(in_order(s, separator) for s in sequences):
        raise UserError(f"{label}: increasing is True but encode() returned a sequence not in increasing order")
    decoded, valid = check_decoded(label, _call(label, "decode()", problem.decode, sequences), count, objects)
    if not valid.all():
        raise UserError(f"{label}: decode() flags the output of encode() as malformed")
    back = np.asarray(_call(label, "canonical_key()", problem.canonical_key, decoded))
    if not np.array_equal(back.astype(np.uint64), keys.astype(np.uint64)):
        raise UserError(f"{label}: decode(encode(x)) is not x (canonical keys differ)")
    # What a model can emit: nothing, or max_length + 1 tokens with no EOS. It must decode, and local search
    # must make something of it.
    rng = np.random.default_rng(0)
    garbage = [np.zeros(0, dtype=np.int64), rng.integers(0, problem.vocab_size, problem.max_length + 1)]
    decoded, _ = check_decoded(label, _call(label, "decode() of a malformed sequence", problem.decode, garbage),
                               2, objects)
    repaired = _call(label, "local_search() of a decoded malformed sequence", problem.local_search, decoded, 1)
    check_batch(label, "local_search()", repaired, 2, like=objects)
    repaired_scores = check_scores(label, _call(label, "score()", problem.score, repaired), 2)
    _call(label, "canonical_key()", problem.canonical_key, decoded)
    try:
        json.dumps(_call(label, "to_native()", problem.to_native, improved[0]))
    except TypeError as exc:
        raise UserError(f"{label}: to_native() must give JSON-ready data: {exc}") from exc
    _call(label, "render()", problem.render, improved[0])
    check_verified(label, problem, improved[0], scores[0], "an object that local_search() returned")
    for obj, score in zip(repaired, repaired_scores):  # local search must repair whatever the model emits
        check_verified(label, problem, obj, score, "what local_search() made of a malformed sequence")


def check_verified(label, problem, obj, score, what):
    """verify(obj) accepts the object and agrees with its score, or one line saying how it does not."""
    try:
        checked = problem.verify(obj)
    except ValueError as exc:
        raise UserError(f"{label}: verify() rejects {what}: {exc}") from exc
    except Exception as exc:
        raise UserError(f"{label}: verify() raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(checked, (int, float, np.number)) or float(checked) != score:
        raise UserError(f"{label}: verify() gives {checked!r} but score() gives {score:g} for {what}")


def check_decoded(label, result, count, like):
    if not isinstance(result, tuple) or len(result) != 2:
        raise UserError(f"{label}: decode() must return a pair (batch, valid flags)")
    decoded, valid = result
    check_batch(label, "decode()", decoded, count, like=like)
    valid = np.asarray(valid)
    if valid.shape != (count,) or not (valid.dtype == bool or np.isin(valid, (0, 1)).all()):
        raise UserError(f"{label}: decode() must return one bool flag per sequence, got shape {valid.shape} "
                        f"and dtype {valid.dtype}")
    return decoded, valid.astype(bool)
