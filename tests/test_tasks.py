"""The task contract: framing, loss on the answer only, the probe's checks, and task rounds in the loop."""
import dataclasses
import json
import os

import numpy as np
import pytest
import torch

from patternboost import Task, UserError, load_problem, parsed, tokens
from patternboost.config import EngineConfig, apply_engine_settings
from patternboost.loop import Loop
from patternboost.rundir import RunDir
from patternboost.tasks import frame, probe_task, prompt_rows, training_batch
from tests.conftest import ROOT, run_cli

SETTINGS = {"loop.rounds": 2, "loop.device": "cpu", "train.steps": 5, "train.batch_size": 16, "train.warmup": 1,
            "model.n_layer": 1, "model.n_embd": 16, "model.n_head": 2, "sample.batch_size": 7}


class Reverse(Task):
    """Tokens 0..4 in, the same reversed out: a task small enough to learn in a test."""

    @dataclasses.dataclass
    class Params:
        length: int = 4

    vocab_size, max_prompt = 5, 4
    max_answer = 4

    def examples(self, count, seed):
        rng = np.random.default_rng(seed)
        prompts = [rng.integers(0, 5, rng.integers(1, self.params.length + 1)) for _ in range(count)]
        return prompts, [p[::-1].copy() for p in prompts]

    def test_sets(self, seed):
        return {"test": self.examples(20, seed)}

    def evaluate(self, results):
        _, answers, predictions, ended = results["test"]
        values = parsed(predictions, ended, tuple)
        return {"accuracy": float(np.mean([v == tuple(a) for v, a in zip(values, answers)])),
                "unparsable": sum(v is None for v in values)}


def test_frame_and_targets_put_the_loss_on_the_answer_only():
    rows = frame([np.array([0, 1]), np.array([2])], [np.array([3]), np.array([4, 0])], width=8)
    n = tokens.N_SPECIAL
    assert rows[0].tolist() == [tokens.BOS, 0 + n, 1 + n, tokens.EOS, 3 + n, tokens.EOS, tokens.PAD, tokens.PAD]
    inputs, targets = training_batch(rows)
    assert inputs.shape == targets.shape == (2, 5)  # the all-padding columns are dropped
    assert targets[0].tolist() == [-1, -1, -1, 3 + n, tokens.EOS]  # the separator's position predicts the answer
    assert targets[1].tolist() == [-1, -1, 4 + n, 0 + n, tokens.EOS]
    assert prompt_rows([np.array([2])])[0].tolist() == [tokens.BOS, 2 + n, tokens.EOS]


def test_parsed_counts_unended_and_unparsable_predictions_as_none():
    def parse(t):
        if len(t) != 1:
            raise ValueError("one token")
        return int(t[0])
    assert parsed([np.array([3]), np.array([3]), np.array([1, 2])], [True, False, True], parse) == [3, None, None]


class Broken(Reverse):
    fault = None

    def examples(self, count, seed):
        prompts, answers = super().examples(count, seed)
        if self.fault == "token":
            answers[0] = np.array([7])
        if self.fault == "long":
            prompts[0] = np.zeros(9, dtype=np.int64)
        return prompts, answers

    def evaluate(self, results):
        metrics = super().evaluate(results)
        _, _answers, predictions, _ = results["test"]
        if self.fault == "crash" and len(predictions[0]) == 0:
            raise IndexError("empty prediction")
        if self.fault == "lenient":
            metrics["accuracy"] = 0.5
        if self.fault == "reserved":
            metrics["history"] = []
        if self.fault == "slash":
            metrics["a/b"] = {"1": 0.5}
        return metrics


@pytest.mark.parametrize("fault, message", [
    ("token", "answer token outside 0 .. vocab_size - 1 = 4"),
    ("long", "prompt of 9 tokens; prompts must have 1 .. 4"),
    ("crash", "evaluate() of malformed predictions raised IndexError: empty prediction"),
    ("lenient", "evaluate() of the true answers gives accuracy 0.5, not 1"),
    ("reserved", "must not name a metric 'run' or 'history'"),
    ("slash", "metric names must be letters, digits"),
])
def test_probe_names_the_fault_in_one_line(fault, message):
    task = Broken()
    task.fault = fault
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        probe_task(task, "broken")


def make_loop(folder, **settings):
    config = EngineConfig()
    apply_engine_settings(config, {**SETTINGS, **settings})
    return Loop(load_problem(Reverse), config, 5, RunDir.create(folder, {"test": True}), "reverse")


def test_task_rounds_write_a_report_and_resume_identically(tmp_path):
    straight = make_loop(str(tmp_path / "straight"))
    assert straight.run_rounds() == "completed round 2"
    report = json.loads((tmp_path / "straight" / "report.json").read_text())
    assert 0 <= report["accuracy"] <= 1 and report["run"]["step"] == 10 and len(report["history"]) == 2
    assert report["run"]["data_stats"]["examples"] == 10 * 16
    for name in ("report.md", "report-history.png"):
        assert (tmp_path / "straight" / name).stat().st_size > 0

    interrupted = make_loop(str(tmp_path / "interrupted"))
    def progress(what, done, total):
        if interrupted.round == 2 and what.startswith("evaluate"):
            interrupted.stop.requested = True  # as a Ctrl-C would
    interrupted.run_rounds(progress)
    resumed = make_loop(str(tmp_path / "resumed"))
    resumed.load_state_dict(interrupted.run.load_checkpoint())
    assert (resumed.round, resumed.phase) == (2, "propose")  # a task's proposals: answers to the test prompts
    resumed.stop.requested = False
    assert resumed.run_rounds() == "completed round 2"
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    last = [json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()][-1]
    again = [json.loads(line) for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()][-1]
    assert last["accuracy"] == again["accuracy"] and last["train_loss"] == again["train_loss"]


def test_the_model_learns_a_task(tmp_path):
    """Reversing up to 4 tokens: loss on the answer only must be enough to learn it."""
    loop = make_loop(str(tmp_path / "run"), **{"loop.rounds": 1, "train.steps": 300, "train.batch_size": 64,
                                                "model.n_embd": 32, "model.n_layer": 2, "train.lr": 3e-3,
                                                "train.warmup": 20})
    loop.run_rounds()
    assert loop.best["score"] >= 0.9


def test_cli_runs_a_task_file_and_shows_its_report(tmp_path):
    path = os.path.join(ROOT, "tests", "test_tasks.py") + ":Reverse"
    settings = [x for k, v in SETTINGS.items() for x in ("--set", f"{k}={v}")]
    code, out, err = run_cli("run", path, "--run-dir", str(tmp_path / "run"), *settings, "--rounds", "1")
    assert code == 0, err
    code, out, err = run_cli("show", str(tmp_path / "run"))
    assert code == 0 and "| accuracy |" in out and "## History" in out
    code, out, err = run_cli("status", str(tmp_path / "run"))
    assert code == 0 and "accuracy" in out


@pytest.mark.parametrize("args, message", [
    (["gcd", "--set", "base=1"], "integer base must be"),
    (["modular_mul", "--set", "modulus=1"], "modulus must be at least 2"),
    (["eigenvalues", "--set", "tolerance=1.5"], "tolerance must be in (0, 1)"),
    (["eigenvalues", "--set", "tolerance=0"], "tolerance must be in (0, 1)"),
    (["addition", "--set", "test_digits=40", "--set", "model.context=64"], "sequences need 127 tokens"),
    (["gcd", "--set", "data.regime=budget", "--set", "data.budget=0"], "an empty budget"),
    (["addition", "--set", "train_digits=9", "--set", "test_digits=5"], "train_digits <= test_digits"),
    (["gcd", "--set", "data.primers=5", "--set", "data.primer_prob=0.1"], "this task has no long_examples()"),
    (["c4_free", "--set", "data.regime=budget", "--set", "data.budget=5"], "[data] settings apply to tasks only"),
])
def test_bad_task_input_is_one_line_and_exit_2(tmp_path, args, message):
    code, _out, err = run_cli("run", *args, "--run-dir", str(tmp_path / "run"))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists()


def test_data_workers_change_no_batch(tmp_path):
    alone = make_loop(str(tmp_path / "alone"), **{"loop.rounds": 1, "data.workers": 0})
    helped = make_loop(str(tmp_path / "helped"), **{"loop.rounds": 1, "data.workers": 2})
    assert alone.run_rounds() == helped.run_rounds() == "completed round 1"
    assert "data_source" not in helped.family.__dict__  # the worker pool is shut down with the run
    for name, tensor in alone.model.state_dict().items():
        assert torch.equal(tensor, helped.model.state_dict()[name]), name


def test_cli_resume_of_a_task_run_matches_a_straight_run(tmp_path):
    path = os.path.join(ROOT, "tests", "test_tasks.py") + ":Reverse"
    settings = [x for k, v in SETTINGS.items() if k != "loop.rounds" for x in ("--set", f"{k}={v}")]
    settings += ["--set", "data.regime=two_set", "--set", "data.repeated_size=30"]
    assert run_cli("run", path, "--run-dir", str(tmp_path / "straight"), *settings, "--rounds", "3")[0] == 0
    assert run_cli("run", path, "--run-dir", str(tmp_path / "split"), *settings, "--rounds", "1")[0] == 0
    code, out, err = run_cli("resume", str(tmp_path / "split"), "--rounds", "3")
    assert code == 0 and "resumed" in out, err
    straight, split = (json.loads((tmp_path / name / "report.json").read_text()) for name in ("straight", "split"))
    drop = ("train_s", "eval_s", "elapsed_s", "session_s")
    assert [{k: v for k, v in h.items() if k not in drop} for h in straight["history"]] == \
        [{k: v for k, v in h.items() if k not in drop} for h in split["history"]]
    assert len(straight["history"]) == 3


def test_beam_evaluation_of_width_one_answers_as_greedy(tmp_path):
    loop = make_loop(str(tmp_path / "run"))
    prompts = prompt_rows(loop.family.test_sets["test"][0])
    max_new = Reverse.max_answer + 1
    greedy_answers, greedy_ended = loop.decoder.answer(prompts, max_new)
    beam_answers, beam_ended = loop.decoder.answer(prompts, max_new, beam=1)
    assert beam_ended == greedy_ended and sum(greedy_ended) >= 3  # some answers end, to compare
    assert all(np.array_equal(a, b) for a, b, ended in zip(greedy_answers, beam_answers, greedy_ended) if ended)
    answers, ended = loop.decoder.answer(prompts, max_new, beam=3)
    assert len(answers) == len(ended) == len(prompts) and all(len(a) <= Reverse.max_answer for a in answers)
