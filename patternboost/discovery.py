"""The discovery contract: problems whose answers a verifier checks, learned by expert iteration.

The model learns from pairs whose answers are known (generated backwards: answer first, then a problem it
solves), proposes answers to new problems by beam search, and every proposal a verifier accepts joins the training
data. A discovery plugin is a class with a `Params` dataclass and `__init__(self, params)`, like a task, with

    family = "discovery"
    vocab_size, max_prompt, max_answer     as for a task
    examples(count, seed)                  -> (prompts, answers): training pairs whose answers are known
    problems(count, seed)                  -> prompts: `count` new problems to solve, token arrays
    verify(prompt, answer)                 -> a status, one of `statuses`: the judge of truth, which trusts no model;
                                              the engine calls it in worker processes, with a timeout
    statuses: tuple[str]                   every status verify() returns
    solved: tuple[str]                     the statuses that count as solved

Optional:

    test_sizes: dict[str, int]             held-out problem sets, name -> size, made once in round 0 by
    test_problems(name, count, seed)       -> `count` prompts of the set `name` (called in worker processes, a few
                                              problems per call); each round reports the share of each set solved
                                              (verified, never compared with a generator's answer)
    parse_input(text)                      -> prompt tokens of what a user typed (`patternboost ask`)
    format_prompt(tokens), format_answer(tokens) -> text (ValueError when unparsable)
    answer_name: str                       what an answer is called in `ask --json` (default "answer")
    settings: dict                         engine settings it recommends

The engine adds three statuses of its own: "timeout" (verify() ran past executor.timeout), "died" (its worker
process died) and "error" (verify() raised).
"""
import dataclasses
import numbers
import typing

import numpy as np

from patternboost.errors import UserError
from patternboost.problem import _call
from patternboost.tasks import check_pairs

REQUIRED = ("examples", "problems", "verify")
ENGINE_STATUSES = ("timeout", "died", "error")


class Discovery:
    """Base class: parameters, the engine's name for the plugin, and its family."""

    @dataclasses.dataclass
    class Params:
        pass

    name = "discovery"
    family = "discovery"
    settings: typing.ClassVar[dict] = {}

    def __init__(self, params=None):
        self.params = params if params is not None else self.Params()


def check_contract(plugin, label):
    for method in REQUIRED:
        if not callable(getattr(plugin, method, None)):
            raise UserError(f"{label}: missing required method {method}()")
    for attr in ("vocab_size", "max_prompt", "max_answer"):
        value = getattr(plugin, attr, None)
        if not isinstance(value, numbers.Integral) or value < 1:
            raise UserError(f"{label}: {attr} must be a positive integer, got {value!r}")
    sizes = getattr(plugin, "test_sizes", None) or {}
    if not isinstance(sizes, dict) or not all(isinstance(k, str) and isinstance(v, numbers.Integral) and v >= 1
                                              for k, v in sizes.items()):
        raise UserError(f"{label}: test_sizes must be a dict of name -> a positive number of problems")
    if sizes and not callable(getattr(plugin, "test_problems", None)):
        raise UserError(f"{label}: test_sizes names test sets, so test_problems(name, count, seed) is required")
    statuses, solved = getattr(plugin, "statuses", ()), getattr(plugin, "solved", ())
    if not statuses or not solved or not set(solved) <= set(statuses):
        raise UserError(f"{label}: statuses must list every status verify() returns and solved those that count "
                        f"as solved (a non-empty part of statuses)")


def check_prompts(label, what, prompts, plugin, count=None):
    """Prompts: a list of 1-D integer token arrays of 1 .. max_prompt tokens in the vocabulary."""
    prompts, _ = check_pairs(label, what, (prompts, [np.zeros(1, dtype=np.int64)] * len(prompts)), plugin, count)
    return prompts


def checked_status(label, plugin, prompt, answer):
    status = _call(label, "verify()", plugin.verify, prompt, answer)
    if status not in plugin.statuses:
        raise UserError(f"{label}: verify() returned {status!r}, not one of statuses {tuple(plugin.statuses)}")
    return status


def probe(plugin, label):
    """Call every method once before a run writes anything: shapes and token ranges, that verify() accepts the
    known answers of examples(), and that it judges what a model can emit (nothing, or random tokens) without
    crashing."""
    prompts, answers = check_pairs(label, "examples()", _call(label, "examples()", plugin.examples, 3, 0), plugin, 3)
    check_prompts(label, "problems()", _call(label, "problems()", plugin.problems, 3, 0), plugin, 3)
    for prompt, answer in zip(prompts, answers):
        status = checked_status(label, plugin, prompt, answer)
        if status not in plugin.solved:
            raise UserError(f"{label}: verify() gives {status!r} for a known answer of examples()")
    rng = np.random.default_rng(0)
    for garbage in (np.zeros(0, dtype=np.int64), rng.integers(0, plugin.vocab_size, plugin.max_answer + 1)):
        checked_status(label, plugin, prompts[0], garbage)
    for name in getattr(plugin, "test_sizes", None) or {}:
        check_prompts(label, f"test_problems({name!r})", _call(label, f"test_problems({name!r})",
                                                               plugin.test_problems, name, 1, 0), plugin, 1)
