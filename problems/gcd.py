"""The greatest common divisor of two integers (Charton, arXiv 2308.15594): a, b -> gcd(a, b), in base B.

Training pairs have operands <= max_operand, drawn uniform or log-uniform, and outcomes that are natural (whatever
the operands give) or drawn log-uniform (P(k) ~ 1/k) or uniform over 1 .. 100, the operands then being k times a
coprime pair. Two test sets, both with uniform operands as in the paper: `natural` (accuracy), and `outcomes`,
stratified with `per_outcome` pairs for each GCD 1 .. 100: a GCD counts as predicted correctly when the model gets
more than `correct_at` of its pairs right (the model's predictions are deterministic per GCD, so the threshold
barely matters). Published: uniform operands up to 38 correct GCD of 100, log-uniform operands 73, log-uniform
operands and outcomes 91.
"""
import dataclasses
import math
import typing

import numpy as np

from patternboost import Task
from problems.integer_task import (
    IntegerTokens,
    check_operands,
    draw_operands,
    exact_accuracy,
    two_integers,
    unparsable,
)

OUTCOMES = ("natural", "log-uniform", "uniform")
MAX_OUTCOME = 100  # outcome distributions and the stratified test set cover GCD 1 .. 100


class GCD(Task):
    """gcd(a, b) of two positive integers written in base B."""

    @dataclasses.dataclass
    class Params:
        base: int = 1000
        max_operand: int = 1_000_000
        operands: str = "uniform"  # uniform | log-uniform
        outcomes: str = "natural"  # natural | log-uniform | uniform (over 1 .. 100)
        test_size: int = 10_000  # natural test set
        per_outcome: int = 100  # stratified test set: pairs for each GCD 1 .. 100
        correct_at: float = 0.5  # a GCD is predicted correctly above this accuracy on its pairs

    name = "gcd"
    settings: typing.ClassVar[dict] = {"train.steps": 500, "train.batch_size": 256, "train.lr": 1e-3, "loop.rounds": 10}

    def __init__(self, params=None):
        super().__init__(params)
        p = self.params
        if p.max_operand < MAX_OUTCOME:
            raise ValueError(f"max_operand must be at least {MAX_OUTCOME}, got {p.max_operand}")
        if p.max_operand >= 2**62:
            raise ValueError("max_operand must be below 2^62")
        check_operands("operands", p.operands)
        if p.outcomes not in OUTCOMES:
            raise ValueError(f"outcomes must be natural, log-uniform or uniform, got {p.outcomes!r}")
        if p.test_size < 1 or p.per_outcome < 1:
            raise ValueError("test_size and per_outcome must be at least 1")
        if not 0 <= p.correct_at < 1:
            raise ValueError(f"correct_at must be in [0, 1), got {p.correct_at}")
        self.tokens = IntegerTokens(p.base)
        self.vocab_size = len(self.tokens.vocab)
        self.max_prompt = 2 * self.tokens.length(p.max_operand)
        self.max_answer = self.tokens.length(p.max_operand)

    def pairs(self, rng, count, operands, outcomes):
        """Operand pairs with the given distributions, as two int64 arrays."""
        if outcomes == "natural":
            high = self.params.max_operand
            return draw_operands(rng, count, high, operands), draw_operands(rng, count, high, operands)
        ks = np.arange(1, MAX_OUTCOME + 1)
        weights = 1.0 / ks if outcomes == "log-uniform" else np.ones(MAX_OUTCOME)
        return self.with_gcd(rng, rng.choice(ks, size=count, p=weights / weights.sum()), operands)

    def with_gcd(self, rng, gcds, operands):
        """Pairs with exactly these GCD: k times a coprime pair drawn from `operands` (rejection)."""
        a, b = np.zeros(len(gcds), dtype=np.int64), np.zeros(len(gcds), dtype=np.int64)
        todo = np.arange(len(gcds))
        while len(todo):
            high = self.params.max_operand // gcds[todo]
            x, y = draw_operands(rng, len(todo), high, operands), draw_operands(rng, len(todo), high, operands)
            ok = np.gcd(x, y) == 1
            a[todo[ok]], b[todo[ok]] = x[ok] * gcds[todo[ok]], y[ok] * gcds[todo[ok]]
            todo = todo[~ok]
        return a, b

    def encode(self, a, b):
        prompts = [np.concatenate(pair) for pair in zip(self.tokens.encode(a), self.tokens.encode(b))]
        return prompts, self.tokens.encode(np.gcd(a, b))

    def examples(self, count, seed):
        rng = np.random.default_rng(seed)
        return self.encode(*self.pairs(rng, count, self.params.operands, self.params.outcomes))

    def test_sets(self, seed):
        rng = np.random.default_rng(seed)
        natural = self.pairs(rng, self.params.test_size, "uniform", "natural")
        stratified = self.with_gcd(rng, np.repeat(np.arange(1, MAX_OUTCOME + 1), self.params.per_outcome), "uniform")
        return {"natural": self.encode(*natural), "outcomes": self.encode(*stratified)}

    def evaluate(self, results):
        metrics = {}
        for name, (_, answers, predictions, ended) in results.items():
            truth = [self.tokens.parse(a) for a in answers]
            values = self.tokens.values(predictions, ended)
            if name == "natural":
                metrics["accuracy"] = exact_accuracy(values, truth)
                metrics["unparsable"] = unparsable(values)
                continue
            predicted = np.array([-1 if v is None else v for v in values], dtype=np.int64)  # -1: unparsable
            truth, by_gcd, modal = np.array(truth), {}, {}
            for k in range(1, MAX_OUTCOME + 1):
                mine = predicted[truth == k]
                by_gcd[str(k)] = float(np.mean(mine == k))
                found, counts = np.unique(mine[mine >= 0], return_counts=True)
                modal[str(k)] = int(found[np.argmax(counts)]) if len(found) else None
            correct = [k for k in range(1, MAX_OUTCOME + 1) if by_gcd[str(k)] > self.params.correct_at]
            metrics |= {"correct_gcd": len(correct), "gcd_correct": correct, "outcome_accuracy": by_gcd,
                        "modal_prediction": modal, "outcomes_unparsable": unparsable(values)}
        return metrics

    # --- `patternboost ask` ---------------------------------------------------------------------------------

    def parse_input(self, text):
        a, b = two_integers(text, 1, self.params.max_operand)
        return self.encode(np.array([a]), np.array([b]))[0][0]

    def format_answer(self, tokens):
        return str(self.tokens.parse(tokens))

    def check_answer(self, prompt, answer):
        return self.tokens.value_or_none(answer) == math.gcd(*self.tokens.parse_all(prompt))
