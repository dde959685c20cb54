"""Long addition and multiplication, digit by digit, and length generalization (Jelassi et al., arXiv 2306.15400).

Training operands have 1 .. train_digits digits (multiplication: a second operand of 1 .. second_digits); the
test sets hold `test_per_length` examples for every first-operand length 1 .. test_digits, so accuracy is
reported by length, inside and beyond the training range. Priming (data.primers = k) adds k long examples,
first operands of train_digits + 1 .. test_digits digits. Published: relative positions take addition from 5 to
15 digits but fail for multiplication; 10-50 primers take 5x3 multiplication to 35x3.

Numbers are written as sign then digits; with `reverse` (the default) every number is written least significant
digit first, the order in which carries propagate, so each answer digit depends on tokens already seen.
"""
import dataclasses
import typing

import numpy as np

from patternboost import Task
from problems.integer_task import IntegerTokens, exact_accuracy, two_integers, unparsable

GENERALIZED_AT = 0.9  # `generalizes_to`: longest length up to which every length reaches this accuracy


def random_numbers(rng, lengths, base):
    """Python ints with exactly lengths[i] digits in `base` (leading digit non-zero)."""
    digits = rng.integers(0, base, size=(len(lengths), int(lengths.max())))
    digits[:, 0] = rng.integers(1, base, size=len(lengths))
    numbers = []
    for row, length in zip(digits.tolist(), lengths.tolist()):
        value = 0
        for digit in row[:length]:
            value = value * base + digit
        numbers.append(value)
    return numbers


def token_accuracy(prediction, answer):
    """Share of the answer's tokens that the prediction has right, position by position (missing ones wrong):
    shows how far a too-short or partly wrong answer got."""
    shared = min(len(prediction), len(answer))
    return float(np.sum(np.asarray(prediction[:shared]) == np.asarray(answer[:shared]))) / len(answer)


class LongArithmetic(Task):
    """Base: subclasses set the operation and the second operand's length."""

    settings: typing.ClassVar[dict] = {"train.steps": 500, "train.batch_size": 128, "train.lr": 1e-3,
                                       "loop.rounds": 10, "model.position": "alibi"}

    def __init__(self, params=None):
        super().__init__(params)
        p = self.params
        if not 1 <= p.train_digits <= p.test_digits:
            raise ValueError(f"need 1 <= train_digits <= test_digits, got {p.train_digits} and {p.test_digits}")
        if p.test_digits > 1000:
            raise ValueError(f"test_digits must be at most 1000, got {p.test_digits}")
        if p.test_per_length < 1:
            raise ValueError("test_per_length must be at least 1")
        self.tokens = IntegerTokens(p.base)  # ValueError for base < 2
        longest = [p.base**p.test_digits - 1, p.base**self.longest_second(p.test_digits) - 1]
        self.vocab_size = len(self.tokens.vocab)
        self.max_prompt = sum(self.tokens.length(x) for x in longest)
        self.max_answer = self.tokens.length(self.combine(*longest))

    def encode(self, a, b):
        reverse = self.params.reverse
        prompts = [np.concatenate(pair) for pair in zip(self.tokens.encode_big(a, reverse),
                                                         self.tokens.encode_big(b, reverse))]
        return prompts, self.tokens.encode_big([self.combine(x, y) for x, y in zip(a, b)], reverse)

    def draw(self, rng, first_lengths):
        """Pairs with these first-operand lengths; the second drawn as in training (addition: same length)."""
        seconds = self.second_lengths(rng, first_lengths)
        return random_numbers(rng, first_lengths, self.params.base), random_numbers(rng, seconds, self.params.base)

    def examples(self, count, seed):
        rng = np.random.default_rng(seed)
        return self.encode(*self.draw(rng, rng.integers(1, self.params.train_digits + 1, size=count)))

    def long_examples(self, count, seed):
        p, rng = self.params, np.random.default_rng(seed)
        low = min(p.train_digits + 1, p.test_digits)
        return self.encode(*self.draw(rng, rng.integers(low, p.test_digits + 1, size=count)))

    def test_sets(self, seed):
        rng, p = np.random.default_rng(seed), self.params
        return {f"length_{n}": self.encode(*self.draw(rng, np.full(p.test_per_length, n)))
                for n in range(1, p.test_digits + 1)}

    def evaluate(self, results):
        p, by_length, digits, bad = self.params, {}, {}, 0
        for n in range(1, p.test_digits + 1):
            _, answers, predictions, ended = results[f"length_{n}"]
            values = self.tokens.values(predictions, ended, p.reverse)
            by_length[str(n)] = exact_accuracy(values, [self.tokens.parse(a, p.reverse) for a in answers])
            digits[str(n)] = float(np.mean([token_accuracy(x, a) for x, a in zip(predictions, answers)]))
            bad += unparsable(values)
        accuracies = list(by_length.values())
        reached = next((n for n, a in enumerate(accuracies) if a < GENERALIZED_AT), len(accuracies))
        beyond = accuracies[p.train_digits:]
        return {"accuracy": float(np.mean(accuracies[: p.train_digits])),
                "accuracy_beyond": float(np.mean(beyond)) if beyond else None,
                "generalizes_to": reached, "accuracy_by_length": by_length, "token_accuracy_by_length": digits,
                "unparsable": bad}

    # --- `patternboost ask` ---------------------------------------------------------------------------------

    def parse_input(self, text):
        p = self.params
        a, b = two_integers(text, 0, p.base**p.test_digits - 1)
        if b >= p.base**self.longest_second(p.test_digits):
            raise ValueError(f"the second operand must have at most {self.longest_second(p.test_digits)} digits")
        return self.encode([a], [b])[0][0]

    def format_answer(self, tokens):
        return str(self.tokens.parse(tokens, self.params.reverse))

    def check_answer(self, prompt, answer):
        a, b = self.tokens.parse_all(prompt, self.params.reverse)
        return self.tokens.value_or_none(answer, self.params.reverse) == self.combine(a, b)


class Addition(LongArithmetic):
    """a + b for long integers, digit by digit; train on short operands, test on longer ones."""

    @dataclasses.dataclass
    class Params:
        train_digits: int = 5
        test_digits: int = 15
        test_per_length: int = 100
        base: int = 10
        reverse: bool = True

    name = "addition"

    @staticmethod
    def combine(a, b):
        return a + b

    @staticmethod
    def longest_second(first):
        return first

    @staticmethod
    def second_lengths(rng, first_lengths):
        return first_lengths


class Multiplication(LongArithmetic):
    """a * b, a long and b short (5x3 in training), digit by digit; test on longer first operands."""

    @dataclasses.dataclass
    class Params:
        train_digits: int = 5
        second_digits: int = 3
        test_digits: int = 35
        test_per_length: int = 100
        base: int = 10
        reverse: bool = True

    name = "multiplication"

    def __init__(self, params=None):
        if (params or self.Params()).second_digits < 1:
            raise ValueError("second_digits must be at least 1")
        super().__init__(params)

    @staticmethod
    def combine(a, b):
        return a * b

    def longest_second(self, first):
        return self.params.second_digits

    def second_lengths(self, rng, first_lengths):
        return rng.integers(1, self.params.second_digits + 1, size=len(first_lengths))
