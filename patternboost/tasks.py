"""The task contract: input -> output problems (math tasks) on the same engine, model and loop.

A task is a class with a `Params` dataclass and `__init__(self, params)`, like a problem, that supplies:

    vocab_size: int                   tokens are 0 .. vocab_size - 1
    max_prompt, max_answer: int       most tokens a prompt / an answer has, test sets included
    examples(count, seed)             -> (prompts, answers): `count` training pairs, two lists of int token arrays
    test_sets(seed)                   -> {name: (prompts, answers)}: the evaluation sets; same seed, same sets
    evaluate(results)                 -> metrics, a JSON-ready dict with at least "accuracy" (exact match on the
                                         main test set, in [0, 1]); results = {name: (prompts, answers,
                                         predictions, ended)}, predictions being whatever token arrays the model
                                         emitted (ended[i]: it closed with EOS) - anything unparsable is wrong

Optional:

    long_examples(count, seed)        -> (prompts, answers): long pairs, for train-set priming (data.primers)
    settings: dict                    engine settings this task recommends, as for problems
    parse_input(text)                 -> prompt tokens of what a user typed (`patternboost ask`); ValueError with
                                         a short reason for text it cannot read
    format_answer(tokens)             -> an answer as text (ValueError when unparsable)
    check_answer(prompt, answer)      -> whether an answer is right, for tasks that can compute the truth

The engine frames a pair as BOS prompt EOS answer EOS (the first EOS separates prompt from answer) and trains on
the answer and its closing EOS only. A task is recognised by its examples() method.
"""
import dataclasses
import json
import numbers
import re
import typing

import numpy as np

from patternboost import tokens
from patternboost.errors import UserError
from patternboost.problem import _call
from patternboost.report import RESERVED

REQUIRED = ("examples", "test_sets", "evaluate")


class Task:
    """Base class: parameters and the engine's name for the task."""

    @dataclasses.dataclass
    class Params:
        pass

    name = "task"
    settings: typing.ClassVar[dict] = {}

    def __init__(self, params=None):
        self.params = params if params is not None else self.Params()


def is_task(problem):
    return callable(getattr(problem, "examples", None))


def sequence_width(problem):
    """Tokens in one framed row: BOS prompt EOS answer EOS for a task, BOS object EOS for a problem."""
    if is_task(problem):
        return problem.max_prompt + problem.max_answer + 3
    return problem.max_length + 2


def check_task_contract(task, label):
    for method in REQUIRED:
        if not callable(getattr(task, method, None)):
            raise UserError(f"{label}: missing required method {method}()")
    for attr in ("vocab_size", "max_prompt", "max_answer"):
        value = getattr(task, attr, None)
        if not isinstance(value, numbers.Integral) or value < 1:
            raise UserError(f"{label}: {attr} must be a positive integer, got {value!r}")


def check_pairs(label, what, pairs, task, count=None):
    """(prompts, answers): equal-length lists of 1-D integer token arrays that fit the task's limits."""
    if not isinstance(pairs, tuple) or len(pairs) != 2:
        raise UserError(f"{label}: {what} must return a pair (prompts, answers)")
    prompts, answers = ([np.asarray(a) for a in arrays] for arrays in pairs)
    if any(a.ndim != 1 for a in (*prompts, *answers)):
        raise UserError(f"{label}: {what} must give prompts and answers as 1-D token arrays")
    if len(prompts) != len(answers) or (count is not None and len(prompts) != count):
        raise UserError(f"{label}: {what} returned {len(prompts)} prompts and {len(answers)} answers"
                        + ("" if count is None else f", expected {count} of each"))
    for kind, arrays, limit in (("prompt", prompts, task.max_prompt), ("answer", answers, task.max_answer)):
        sizes = lengths(arrays)
        if len(sizes) and (sizes.max() > limit or sizes.min() < 1):
            bad = sizes.max() if sizes.max() > limit else sizes.min()
            raise UserError(f"{label}: {what} gave a {kind} of {bad} tokens; {kind}s must have 1 .. {limit} "
                            f"(max_{kind})")
        if not len(arrays):
            continue
        flat = np.concatenate(arrays)
        if not np.issubdtype(flat.dtype, np.integer):
            raise UserError(f"{label}: {what} must give integer token arrays, got dtype {flat.dtype}")
        if flat.min() < 0 or flat.max() >= task.vocab_size:
            raise UserError(f"{label}: {what} gave a {kind} token outside 0 .. vocab_size - 1 = {task.vocab_size - 1}")
    return prompts, answers


def frame(prompts, answers, width):
    """Pairs -> model rows BOS prompt EOS answer EOS PAD..., `width` wide (vectorised: no loop over pairs)."""
    count = len(prompts)
    rows = np.full((count, width), tokens.PAD, dtype=np.int64)
    rows[:, 0] = tokens.BOS
    prompt_lengths, answer_lengths = lengths(prompts), lengths(answers)
    for arrays, sizes, first in ((prompts, prompt_lengths, 1), (answers, answer_lengths, prompt_lengths + 2)):
        owner = np.repeat(np.arange(count), sizes)
        offset = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        values = np.concatenate(arrays).astype(np.int64)  # small dtypes would wrap into the special tokens
        rows[owner, np.broadcast_to(first, (count,))[owner] + offset] = values + tokens.N_SPECIAL
    rows[np.arange(count), prompt_lengths + 1] = tokens.EOS
    rows[np.arange(count), prompt_lengths + answer_lengths + 2] = tokens.EOS
    return rows


def lengths(arrays):
    return np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))


def prompt_rows(prompts):
    """Prompts as the model sees them before answering: BOS prompt EOS."""
    return [np.concatenate(([tokens.BOS], np.asarray(p, dtype=np.int64) + tokens.N_SPECIAL, [tokens.EOS]))
            for p in prompts]


def training_batch(rows):
    """Framed rows -> (inputs, targets) tensors; the loss falls on the answer and its EOS only (targets -1
    elsewhere)."""
    import torch

    width = int((rows != tokens.PAD).sum(axis=1).max())
    rows = rows[:, :width]
    targets = rows[:, 1:].copy()
    separator = np.argmax(rows == tokens.EOS, axis=1)  # targets[j] is rows[j + 1]: keep j >= separator
    targets[np.arange(width - 1)[None, :] < separator[:, None]] = -1
    targets[targets == tokens.PAD] = -1
    return torch.from_numpy(rows[:, :-1]), torch.from_numpy(targets)


class FramedPairs:
    """A task seen by data.make_source: generate() and generate_long() give framed rows."""

    def __init__(self, task, label):
        self.task, self.label, self.width = task, label, sequence_width(task)
        if callable(getattr(task, "long_examples", None)):
            self.generate_long = self._generate_long

    def generate(self, count, seed):
        pairs = check_pairs(self.label, "examples()", self.task.examples(count, seed), self.task, count)
        return frame(*pairs, self.width)

    def _generate_long(self, count, seed):
        pairs = check_pairs(self.label, "long_examples()", self.task.long_examples(count, seed), self.task, count)
        return frame(*pairs, self.width)


def parsed(predictions, ended, parse):
    """The value of each prediction, or None where it is unparsable: no closing EOS, or parse() raised
    ValueError. Tasks count None as wrong."""
    values = []
    for prediction, closed in zip(predictions, ended):
        try:
            values.append(parse(prediction) if closed else None)
        except ValueError:
            values.append(None)
    return values


def framed_task(spec, params, label):
    """FramedPairs of a task built afresh from its spec (or class) and parameters: for worker processes."""
    from patternboost.registry import load_problem  # the registry imports this module

    return FramedPairs(load_problem(spec, **params), label)


def check_metrics(label, metrics):
    if not isinstance(metrics, dict) or "accuracy" not in metrics:
        raise UserError(f"{label}: evaluate() must return a dict with an 'accuracy' entry")
    if set(metrics) & set(RESERVED):
        raise UserError(f"{label}: evaluate() must not name a metric 'run' or 'history' (the report uses them)")
    if not all(isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9_.%-]+", name) for name in metrics):
        raise UserError(f"{label}: evaluate() metric names must be letters, digits and _ . % - (they name plot "
                        f"files), got {sorted(map(str, metrics))}")
    accuracy = metrics["accuracy"]
    if not isinstance(accuracy, numbers.Real) or not 0 <= accuracy <= 1:
        raise UserError(f"{label}: evaluate() gave accuracy {accuracy!r}, expected a number in [0, 1]")
    try:
        json.dumps(metrics)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{label}: evaluate() must give JSON-ready metrics: {exc}") from exc
    return metrics


def probe_task(task, label):
    """Call every method of the task contract once, before a run writes anything.

    Checks shapes and token ranges, that the true answers score accuracy 1, and that what a model can emit -
    nothing, or max_answer + 1 random tokens with no EOS - is scored, not crashed on."""
    check_pairs(label, "examples()", _call(label, "examples()", task.examples, 3, 0), task, 3)
    if callable(getattr(task, "long_examples", None)):
        check_pairs(label, "long_examples()", _call(label, "long_examples()", task.long_examples, 2, 0), task, 2)
    sets = _call(label, "test_sets()", task.test_sets, 0)
    if not isinstance(sets, dict) or not sets:
        raise UserError(f"{label}: test_sets() must return a non-empty dict of name -> (prompts, answers)")
    for name, pairs in sets.items():
        check_pairs(label, f"test_sets()[{name!r}]", pairs, task)
    truth = {name: (p, a, list(a), [True] * len(a)) for name, (p, a) in sets.items()}
    accuracy = check_metrics(label, _call(label, "evaluate()", task.evaluate, truth))["accuracy"]
    if accuracy != 1:
        raise UserError(f"{label}: evaluate() of the true answers gives accuracy {accuracy:g}, not 1")
    rng = np.random.default_rng(0)
    for closed in (False, True):  # cut off, or ended with EOS and so parsed
        for garbage in (lambda: np.zeros(0, dtype=np.int64),
                        lambda: rng.integers(0, task.vocab_size, rng.integers(1, task.max_answer + 2))):
            wrong = {name: (p, a, [garbage() for _ in a], [closed] * len(a)) for name, (p, a) in sets.items()}
            check_metrics(label, _call(label, "evaluate() of malformed predictions", task.evaluate, wrong))
