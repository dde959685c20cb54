"""Integers as tokens for the integer tasks (gcd, modular, long arithmetic), in Int2Int's encoding: a sign
token, then base-B digits, most significant first (patternboost.encodings.IntegerEncoding).

Batches are encoded with numpy, not value by value, so that generating data keeps well ahead of training.
"""
import re

import numpy as np

from patternboost import parsed
from patternboost.encodings import IntegerEncoding, Vocabulary

OPERAND_DISTRIBUTIONS = ("uniform", "log-uniform")


class IntegerTokens:
    """Token ids of IntegerEncoding(base) symbols: '+' 0, '-' 1, digit d is d + 2."""

    def __init__(self, base, extra=()):
        self.base = base
        self.encoding = IntegerEncoding(base)  # ValueError for base < 2
        self.vocab = Vocabulary([*self.encoding.symbols(), *extra])

    def length(self, max_abs):
        """Tokens of the longest integer with |value| <= max_abs."""
        digits, rest = 1, int(max_abs) // self.base
        while rest:
            digits, rest = digits + 1, rest // self.base
        return 1 + digits

    def encode(self, values, reverse=False):
        """int64 values -> list of token arrays; `reverse`: digits least significant first."""
        values = np.asarray(values, dtype=np.int64)
        magnitude = np.abs(values)
        width = self.length(int(magnitude.max())) - 1 if len(values) else 1
        digits = np.empty((len(values), width), dtype=np.int64)  # least significant first
        for column in range(width):
            magnitude, digits[:, column] = np.divmod(magnitude, self.base)
        counts = np.maximum(1, width - np.argmax(digits[:, ::-1] != 0, axis=1))
        counts[(digits == 0).all(axis=1)] = 1
        signs = (values < 0).astype(np.int64)
        return [np.concatenate(([sign], row[:count] + 2 if reverse else row[:count][::-1] + 2))
                for sign, row, count in zip(signs, digits, counts)]

    def encode_big(self, values, reverse=False):
        """Python ints of any size -> token arrays (for long arithmetic beyond int64)."""
        out = []
        for value in values:
            digits, rest = [], abs(int(value))
            while True:
                rest, digit = divmod(rest, self.base)
                digits.append(digit + 2)
                if not rest:
                    break
            out.append(np.array([int(value < 0), *(digits if reverse else digits[::-1])], dtype=np.int64))
        return out

    def parse(self, tokens, reverse=False):
        """Exactly one integer -> its value; ValueError otherwise (IntegerEncoding.decode_all on ids)."""
        tokens = np.asarray(tokens)
        if len(tokens) < 2 or tokens[0] not in (0, 1) or (tokens[1:] < 2).any() or (tokens[1:] >= self.base + 2).any():
            raise ValueError("not one integer")
        value = 0
        for digit in (tokens[:0:-1] if reverse else tokens[1:]):
            value = value * self.base + int(digit) - 2
        return -value if tokens[0] == 1 else value

    def values(self, predictions, ended, reverse=False):
        return parsed(predictions, ended, lambda tokens: self.parse(tokens, reverse))

    def parse_all(self, tokens, reverse=False):
        """Integers written one after another (as in a prompt) -> their values; each starts with a sign token."""
        tokens = np.asarray(tokens)
        return [self.parse(part, reverse) for part in np.split(tokens, np.flatnonzero(tokens < 2)[1:])]

    def value_or_none(self, tokens, reverse=False):
        try:
            return self.parse(tokens, reverse)
        except ValueError:
            return None


def two_integers(text, low, high):
    """The two non-negative integers a user typed: "12 18", "12, 18", "123+45", "gcd(12, 18)"."""
    match = re.fullmatch(r"\D*?(\d+)\D+?(\d+)\D*", text.strip())
    if not match:
        raise ValueError('expected two integers, e.g. "12 18"')
    values = int(match[1]), int(match[2])
    if not all(low <= v <= high for v in values):
        raise ValueError(f"operands must be in {low} .. {high}")
    return values


def check_operands(name, value):
    if value not in OPERAND_DISTRIBUTIONS:
        raise ValueError(f"{name} must be uniform or log-uniform, got {value!r}")


def draw_operands(rng, count, high, distribution, low=1):
    """`count` integers in low .. high (arrays allowed), uniform or log-uniform (density ~ 1/x)."""
    high = np.broadcast_to(np.asarray(high, dtype=np.int64), (count,))
    if distribution == "uniform":
        return rng.integers(low, high + 1)
    span = np.log(high + 1.0) - np.log(low)
    values = np.floor(np.exp(np.log(low) + rng.random(count) * span)).astype(np.int64)
    return np.clip(values, low, high)


def exact_accuracy(values, truth):
    """Share of predictions equal to the truth (None, an unparsable prediction, is wrong)."""
    return float(np.mean([v is not None and v == t for v, t in zip(values, truth)])) if len(truth) else 0.0


def unparsable(values):
    return int(sum(v is None for v in values))
