"""The discovery family on a toy: square roots modulo p, learned from backward pairs, every answer verified."""
import dataclasses
import json
import os
import time
import typing

import numpy as np
import pytest
import torch

from patternboost import Discovery, UserError, load_problem
from patternboost.config import EngineConfig, apply_engine_settings
from patternboost.discovery import probe
from patternboost.loop import Loop
from patternboost.rundir import RunDir
from tests.conftest import ROOT, run_cli


class SquareRoots(Discovery):
    """x with x * x = a (mod p). Backward pairs: x first, then a = x² mod p. Problems: random squares a."""

    @dataclasses.dataclass
    class Params:
        p: int = 31

    name = "square_roots"
    statuses = ("valid", "wrong", "malformed")
    solved = ("valid",)
    max_prompt = max_answer = 1

    def __init__(self, params=None):
        super().__init__(params)
        self.vocab_size = self.params.p

    def examples(self, count, seed):
        roots = np.random.default_rng(seed).integers(1, self.params.p, count)
        return [np.array([x * x % self.params.p]) for x in roots], [np.array([x]) for x in roots]

    def problems(self, count, seed):
        return self.examples(count, seed + 1)[0]

    def verify(self, prompt, answer):
        if len(answer) != 1:
            return "malformed"
        return "valid" if (int(answer[0]) ** 2 - int(prompt[0])) % self.params.p == 0 else "wrong"

    test_sizes: typing.ClassVar[dict] = {"held_out": 20}

    def test_problems(self, name, count, seed):
        return self.problems(count, seed)

    def parse_input(self, text):
        return np.array([int(text) % self.params.p])

    def format_prompt(self, tokens):
        return f"x² = {tokens[0]} (mod {self.params.p})"

    def format_answer(self, tokens):
        if len(tokens) != 1:
            raise ValueError("one residue")
        return str(int(tokens[0]))


class SlowSquareRoots(SquareRoots):
    """Examples that take longer than executor.timeout to make: the timeout is the verifier's, not theirs."""

    def examples(self, count, seed):
        time.sleep(0.6 if count > 3 else 0)  # not in the probe's call
        return super().examples(count, seed)


SETTINGS = {"loop.rounds": 2, "loop.device": "cpu", "train.steps": 150, "train.batch_size": 64, "train.lr": 3e-3,
            "train.warmup": 10, "model.n_layer": 1, "model.n_embd": 32, "model.n_head": 2, "sample.count": 40,
            "sample.batch_size": 16, "sample.beam": 3}


def make_loop(folder, **settings):
    config = EngineConfig()
    apply_engine_settings(config, {**SETTINGS, **settings})
    return Loop(load_problem(SquareRoots), config, 2, RunDir.create(folder, {"test": True}), "square_roots")


def test_the_probe_checks_the_verifier():
    probe(SquareRoots(), "roots")
    lying = type("Lying", (SquareRoots,), {"verify": lambda self, p, a: "wrong"})()
    with pytest.raises(UserError, match="verify\\(\\) gives 'wrong' for a known answer of examples"):
        probe(lying, "roots")
    odd = type("Odd", (SquareRoots,), {"verify": lambda self, p, a: "maybe"})()
    with pytest.raises(UserError, match="verify\\(\\) returned 'maybe', not one of statuses"):
        probe(odd, "roots")


def test_rounds_find_verified_answers_and_resume_identically(tmp_path):
    straight = make_loop(str(tmp_path / "straight"))
    assert straight.run_rounds() == "completed round 2"
    last = straight.run.metrics()[-1]
    assert last["tried"] == 40 and last["solved"] == last["status_valid"] > 30  # learned from backward pairs
    assert last["solved_held_out"] > 0.75 and last["found_total"] == len(straight.family.found["prompts"])
    found = json.loads((tmp_path / "straight" / "found.json").read_text())["found"]
    for pair in found:  # only what the verifier accepted
        assert pair["status"] == "valid"
        a, x = int(pair["problem"].split()[2]), int(pair["answer"])
        assert x * x % 31 == a

    interrupted = make_loop(str(tmp_path / "interrupted"))
    interrupted.run_rounds(lambda what, done, total: setattr(
        interrupted.stop, "requested", interrupted.round == 2 and what == "verify"))
    resumed = make_loop(str(tmp_path / "resumed"))
    resumed.load_state_dict(interrupted.run.load_checkpoint())
    assert (resumed.round, resumed.phase, resumed.chunk) == (2, "propose", 0)  # stopped inside chunk 0's checks
    resumed.stop.requested = False
    assert resumed.run_rounds() == "completed round 2"
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    assert [p.tolist() for p in resumed.family.found["prompts"]] == [p.tolist() for p in straight.family.found["prompts"]]
    assert resumed.run.metrics()[-1] == {**last, **{k: v for k, v in resumed.run.metrics()[-1].items()
                                                   if k.endswith("_s")}}


def test_cli_run_ask_show_status(tmp_path):
    spec = os.path.join(ROOT, "tests", "test_discoveries.py") + ":SquareRoots"
    settings = [x for k, v in SETTINGS.items() if k != "loop.rounds" for x in ("--set", f"{k}={v}")]
    run_dir = str(tmp_path / "run")
    code, out, err = run_cli("run", spec, *settings, "--rounds", "1", "--run-dir", run_dir)
    assert code == 0 and "round 1: discovery" in out, err
    code, out, err = run_cli("ask", run_dir, "4", "--beam", "3", "--json")
    assert code == 0, err
    candidates = json.loads(out)["candidates"]
    assert candidates and all(c["status"] in SquareRoots.statuses for c in candidates)
    statuses = [c["status"] == "valid" for c in candidates]
    assert statuses == sorted(statuses, reverse=True)  # verified first
    code, out, err = run_cli("show", run_dir)
    assert code == 0 and "verified finds" in out and "x² = " in out and "[valid]" in out, err
    assert "held_out" in out.splitlines()[0] and out.splitlines()[1].split()[0] == "1"  # the per-round table
    code, out, err = run_cli("status", run_dir)
    assert code == 0 and "discovery" in out and "found" in out, err
    code, out, err = run_cli("sample", run_dir)
    assert code == 2 and "use `patternboost ask" in err


def test_budget_round_0_generates_the_set_once_and_through_the_executor(tmp_path, monkeypatch):
    from patternboost.families import discovery

    monkeypatch.setattr(discovery, "GENERATE_CALL", 100)  # budget 700: two chunks of 4 and 3 calls
    monkeypatch.setattr(discovery, "GENERATE_CHUNK", 400)
    settings = {"data.regime": "budget", "data.budget": 700, "loop.rounds": 1, "executor.kind": "process",
                "executor.workers": 2}
    loop = make_loop(str(tmp_path / "run"), **settings)
    assert loop.round == 0 and loop.run_rounds() == "completed round 1"
    first = loop.run.metrics()[0]
    assert first["round"] == 0 and first["examples"] == 700
    state = loop.run.load_checkpoint()["family"]
    rows = np.concatenate(state["generated"])
    assert rows.shape[0] == 700 and len({tuple(r) for r in rows}) > 1
    inline = make_loop(str(tmp_path / "inline"), **{**settings, "executor.kind": "inline"})
    inline.run_rounds()
    assert np.array_equal(np.concatenate(inline.family.generated), rows)  # the same set whoever generates it
    tests = [p.tolist() for p in state["tests"]["held_out"]]
    assert len(tests) == 20 and tests == [p.tolist() for p in inline.family.tests["held_out"]]


def test_a_single_find_joins_a_few_batches_and_never_breaks_one(tmp_path):
    from patternboost.tasks import training_batch

    family = make_loop(str(tmp_path / "run")).family
    prompts, answers = family.plugin.examples(1, 0)
    family.found = {"prompts": prompts, "answers": answers, "rounds": [1], "statuses": ["valid"]}
    batch, offset = family.batches(2), family.config.train.steps
    replaced = [int((batch(step)[0] != training_batch(family.data_source(offset + step))[0]).any(dim=1).sum())
                for step in range(40)]
    assert 0 < sum(replaced) < 40  # share 0.25 scaled by 1 find / 64 rows: about 10 rows in 40 batches


def test_making_the_training_set_is_not_cut_by_the_verifiers_timeout(tmp_path):
    config = EngineConfig()
    apply_engine_settings(config, {**SETTINGS, "data.regime": "budget", "data.budget": 50, "loop.rounds": 0,
                                   "executor.kind": "process", "executor.workers": 1, "executor.timeout": 0.3})
    loop = Loop(load_problem(SlowSquareRoots), config, 2, RunDir.create(str(tmp_path / "run"), {"test": True}), "slow")
    assert loop.run_rounds() == "completed round 0" and loop.run.metrics()[0]["examples"] == 50
