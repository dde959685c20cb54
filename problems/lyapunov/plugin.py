"""Lyapunov function discovery as a discovery plugin: system -> V, learned from backward-generated pairs, every
proposal judged by the verifier (problems/lyapunov/verify.py), verified finds joining the training data.

    patternboost run lyapunov                           # polynomial systems of 2-3 equations, CPU configuration
    patternboost run lyapunov --config configs/lyapunov-gpu.toml   # the published problem scale
    patternboost ask RUN "x0' = -2*x0 + x1; x1' = -x1**3 - x0" --beam 20

Prompts are systems and answers functions, in the prefix tokens of problems/lyapunov/expressions.py. A run's
round 0 generates `data.budget` training pairs (backward, and a `forward_share` of forward ones) and the held-out
test sets, in parallel with the process executor: `backward` (in distribution) and `forward` (random systems the
SOS baseline solves: out of distribution). Each later round trains, proposes V by beam search for the test sets
(verified accuracy) and for `sample.count` plausibly stable random polynomial systems (discovery), and verifies
every candidate.
"""
import dataclasses
import typing

import numpy as np

from patternboost import Discovery
from problems.lyapunov import expressions, forward, generate, verify

GENERATOR_KNOBS = ("min_equations", "max_equations", "proper_degree", "cross_degree", "max_cross", "h_degree",
                   "g_degree")


class Lyapunov(Discovery):
    """Lyapunov functions V for systems x' = f(x): backward pairs, beam search, verified answers."""

    @dataclasses.dataclass
    class Params:
        polynomial: bool = True  # the polynomial configuration (SOS proofs), else non-polynomial (numeric checks)
        min_equations: int = 2
        max_equations: int = 3
        # The backward generator's knobs (generate.BackwardConfig). The defaults are a CPU configuration: V of
        # degree 2 (proper_degree 1) with at most one squared linear cross term, rotations of degree 1.
        # configs/lyapunov-gpu.toml has the published problem scale (quartic V, more cross terms, 2-5 equations).
        proper_degree: int = 1
        cross_degree: int = 1
        max_cross: int = 1
        h_degree: int = 1
        g_degree: int = 1
        max_prompt: int = 128  # tokens of a system; longer backward pairs are drawn again
        max_answer: int = 48  # tokens of a V
        test_size: int = 50  # held-out backward systems (in distribution), solved share reported each round
        forward_test_size: int = 50  # held-out forward systems (out of distribution: random, solved by SOS)
        forward_share: float = 0.0  # share of the training examples that are forward pairs (slow to make)

    name = "lyapunov"
    statuses = tuple(verify.STATUSES)
    solved = ("valid", "valid_numeric")
    answer_name = "V"
    # A CPU configuration: 20,000 backward pairs made in parallel (about a minute on 2 cores), rounds of 500 steps
    # (about 4 minutes on 2 cores), every candidate verified in worker processes with a timeout.
    settings: typing.ClassVar[dict] = {
        "data.regime": "budget", "data.budget": 20000, "train.steps": 500, "train.batch_size": 32,
        "train.lr": 1e-3, "model.n_layer": 4, "model.n_embd": 128, "model.n_head": 8, "sample.beam": 10,
        "sample.count": 50, "sample.batch_size": 25, "executor.kind": "process", "executor.timeout": 60.0}

    def __init__(self, params=None):
        super().__init__(params)
        try:
            import cvxpy  # noqa: F401 - the verifier's SOS programmes; without it every candidate would be an error
        except ImportError as exc:
            raise ValueError("needs cvxpy for its verifier: pip install 'patternboost[lyapunov]'") from exc
        p = self.params
        base = generate.POLYNOMIAL if p.polynomial else generate.NON_POLYNOMIAL
        try:
            self.config = dataclasses.replace(base, **{f: getattr(p, f) for f in GENERATOR_KNOBS})
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        if min(p.proper_degree, p.cross_degree) < 1 or min(p.max_cross, p.h_degree, p.g_degree) < 0:
            raise ValueError("proper_degree and cross_degree must be at least 1; max_cross, h_degree and g_degree "
                             "at least 0")
        if p.max_prompt < 16 or p.max_answer < 8:
            raise ValueError("max_prompt must be at least 16 and max_answer at least 8")
        if p.test_size < 1 or p.forward_test_size < 0:
            raise ValueError("test_size must be at least 1 and forward_test_size at least 0")
        if not 0 <= p.forward_share <= 1:
            raise ValueError(f"forward_share must be in [0, 1], got {p.forward_share}")
        self.test_sizes = {"backward": p.test_size, **({"forward": p.forward_test_size} if p.forward_test_size else {})}
        self.vocab_size = len(expressions.VOCABULARY)
        self.max_prompt, self.max_answer = p.max_prompt, p.max_answer

    # --- data -------------------------------------------------------------------------------------------------

    def seeds(self, seed, count):
        return np.random.SeedSequence(seed).generate_state(count, np.uint64).tolist()

    def encode_pair(self, system, V):
        """Token ids of a pair, or None when it is longer than the limits."""
        try:
            prompt = expressions.encode_system(system, max_length=self.max_prompt)
            answer = expressions.encode(expressions.canonical(V), max_length=self.max_answer)
        except expressions.ExpressionTooLong:
            return None
        return expressions.to_ids(prompt), expressions.to_ids(answer)

    def encode_prompt(self, system):
        """Token ids of a system, or None when it is longer than max_prompt."""
        try:
            return expressions.to_ids(expressions.encode_system(system, max_length=self.max_prompt))
        except expressions.ExpressionTooLong:
            return None

    def examples(self, count, seed):
        """Backward pairs, each a forward pair instead with probability forward_share."""
        prompts, answers, draws = [], [], iter(self.seeds(seed, 4 * count + 64))
        while len(prompts) < count:
            draw = int(next(draws)) >> 1
            if (draw % 10**6) / 10**6 < self.params.forward_share:
                system, V = forward.forward_pair(draw, self.params.min_equations, self.params.max_equations)
            else:
                system, V = generate.backward_pair(draw, self.config)
            pair = self.encode_pair(tuple(expressions.canonical(f) for f in system), V)
            if pair is not None:
                prompts.append(pair[0])
                answers.append(pair[1])
        return prompts, answers

    def problems(self, count, seed):
        """Plausibly stable random polynomial systems (forward.stable_system): the discovery targets."""
        rng, prompts = np.random.default_rng(seed), []
        while len(prompts) < count:
            prompt = self.encode_prompt(forward.stable_system(int(rng.integers(2**62)), self.params.min_equations,
                                                              self.params.max_equations))
            if prompt is not None:
                prompts.append(prompt)
        return prompts

    def test_problems(self, name, count, seed):
        if name == "backward":
            return self.examples(count, seed)[0]
        prompts, rng = [], np.random.default_rng(seed)
        while len(prompts) < count:
            system, _ = forward.forward_pair(int(rng.integers(2**62)), self.params.min_equations,
                                             self.params.max_equations)
            prompt = self.encode_prompt(system)
            if prompt is not None:
                prompts.append(prompt)
        return prompts

    # --- the judge --------------------------------------------------------------------------------------------

    def verify(self, prompt, answer):
        system = expressions.decode_system(expressions.from_ids(prompt))
        try:
            V = expressions.decode(expressions.from_ids(answer))
        except ValueError:
            return "unparsable"
        return verify.verify(system, V).status

    # --- text -------------------------------------------------------------------------------------------------

    def parse_input(self, text):
        system = expressions.parse_system(text)
        if not self.params.min_equations <= len(system) <= self.params.max_equations:
            raise ValueError(f"this run knows systems of {self.params.min_equations} .. {self.params.max_equations} "
                             f"equations, got {len(system)}")
        try:
            return expressions.to_ids(expressions.encode_system(system, max_length=self.max_prompt))
        except expressions.ExpressionTooLong as exc:
            raise ValueError(str(exc)) from exc

    def format_prompt(self, tokens):
        return expressions.to_text(expressions.decode_system(expressions.from_ids(tokens)))

    def format_answer(self, tokens):
        return expressions.function_text(expressions.decode(expressions.from_ids(tokens)))
