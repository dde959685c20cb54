"""Modular arithmetic (the repeated-examples line, arXiv 2410.07041): a, b -> a * b mod m, or a + b mod m.

Operands <= max_operand, uniform or log-uniform, written in base B; the answer is a residue 0 .. m - 1. With
m = 67, unlimited fresh data stays near chance (1/67, about 1.5%) and only budgets with heavy repetition learn
multiplication, as published; addition is the easier control.
"""
import dataclasses
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


class Modular(Task):
    """Base: subclasses say how two operands combine."""

    @dataclasses.dataclass
    class Params:
        modulus: int = 67
        base: int = 1000
        max_operand: int = 1_000_000
        operands: str = "uniform"  # uniform | log-uniform
        test_size: int = 10_000

    settings: typing.ClassVar[dict] = {"train.steps": 500, "train.batch_size": 256, "train.lr": 1e-3,
                                       "loop.rounds": 10}

    def __init__(self, params=None):
        super().__init__(params)
        p = self.params
        if p.modulus < 2:
            raise ValueError(f"modulus must be at least 2, got {p.modulus}")
        if not 1 <= p.max_operand < 2**31:
            raise ValueError(f"max_operand must be in 1 .. 2^31 - 1, got {p.max_operand}")
        check_operands("operands", p.operands)
        if p.test_size < 1:
            raise ValueError("test_size must be at least 1")
        self.tokens = IntegerTokens(p.base)
        self.vocab_size = len(self.tokens.vocab)
        self.max_prompt = 2 * self.tokens.length(p.max_operand)
        self.max_answer = self.tokens.length(p.modulus - 1)

    def pairs(self, count, seed):
        rng = np.random.default_rng(seed)
        a, b = (draw_operands(rng, count, self.params.max_operand, self.params.operands) for _ in range(2))
        prompts = [np.concatenate(pair) for pair in zip(self.tokens.encode(a), self.tokens.encode(b))]
        return prompts, self.tokens.encode(self.combine(a, b) % self.params.modulus)

    def examples(self, count, seed):
        return self.pairs(count, seed)

    def test_sets(self, seed):
        return {"test": self.pairs(self.params.test_size, seed)}

    def evaluate(self, results):
        _, answers, predictions, ended = results["test"]
        values = self.tokens.values(predictions, ended)
        return {"accuracy": exact_accuracy(values, [self.tokens.parse(a) for a in answers]),
                "chance": 1 / self.params.modulus, "unparsable": unparsable(values)}

    # --- `patternboost ask` ---------------------------------------------------------------------------------

    def parse_input(self, text):
        a, b = two_integers(text, 0, self.params.max_operand)
        return np.concatenate(self.tokens.encode([a, b]))

    def format_answer(self, tokens):
        return str(self.tokens.parse(tokens))

    def check_answer(self, prompt, answer):
        a, b = self.tokens.parse_all(prompt)
        return self.tokens.value_or_none(answer) == self.combine(a, b) % self.params.modulus


class ModularMul(Modular):
    """a * b mod m (default m = 67)."""

    name = "modular_mul"

    @staticmethod
    def combine(a, b):
        return a * b  # below 2^62: operands are below 2^31


class ModularAdd(Modular):
    """a + b mod m (default m = 67)."""

    name = "modular_add"

    @staticmethod
    def combine(a, b):
        return a + b
