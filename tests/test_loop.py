"""The loop in-process: an interrupt between the chunks of a round resumes to the same result, and the process
executor at 1 and 2 workers ends identical to the in-process one."""
import numpy as np
import pytest
import torch

from patternboost import load_problem
from patternboost.config import EngineConfig, apply_engine_settings
from patternboost.families.constructions import SEARCH_CHUNK
from patternboost.loop import Loop
from patternboost.rundir import RunDir

SETTINGS = {"loop.initial": 200, "loop.pool_size": 30, "loop.rounds": 1, "loop.target": 1000, "loop.device": "cpu",
            "train.steps": 4, "train.batch_size": 8, "train.warmup": 1, "model.n_layer": 1, "model.n_embd": 16,
            "model.n_head": 2, "sample.count": 50, "sample.batch_size": 25, "sample.searches": 50}


def make_loop(folder, **settings):
    config = EngineConfig()
    apply_engine_settings(config, {**SETTINGS, **settings})
    problem = load_problem("c4_free", n=8, climb=2)
    return Loop(problem, config, 3, RunDir.create(folder, {"test": True}), "c4_free")


def assert_same(a, b):
    assert np.array_equal(a.family.pool.objects, b.family.pool.objects)
    assert np.array_equal(a.family.pool.scores, b.family.pool.scores)
    for name, tensor in a.model.state_dict().items():
        assert torch.equal(tensor, b.model.state_dict()[name]), name
    last = [{k: v for k, v in loop.run.metrics()[-1].items() if not k.endswith("_s")} for loop in (a, b)]
    assert last[0] == last[1]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    loop = make_loop(str(tmp_path_factory.mktemp("straight") / "run"))
    assert loop.run_rounds() == "completed round 1"
    return loop


@pytest.mark.parametrize("stop_after, chunk", [(1, 0), (2, 1)])
def test_interrupt_inside_a_round_resumes_identically(straight, tmp_path, stop_after, chunk):
    """Stopped after the first local-search call of round 1 (mid-chunk: the chunk is redone) or after its second
    (the end of the first chunk: the round resumes at the second)."""
    assert SETTINGS["sample.batch_size"] * SETTINGS["sample.searches"] > SEARCH_CHUNK  # two calls per chunk
    interrupted = make_loop(str(tmp_path / "interrupted"))

    def progress(what, done, total):
        if what == "local search" and interrupted.round == 1 and done == stop_after:
            interrupted.stop.requested = True  # as a Ctrl-C would
    reason = interrupted.run_rounds(progress)
    assert "in round 1 while sampling" in reason and interrupted.chunk == chunk

    resumed = make_loop(str(tmp_path / "resumed"))
    resumed.load_state_dict(interrupted.run.load_checkpoint())
    assert (resumed.round, resumed.phase, resumed.chunk) == (1, "propose", chunk)
    assert resumed.run_rounds() == "completed round 1"
    assert_same(straight, resumed)


@pytest.mark.parametrize("workers", [1, 2])
def test_process_executor_ends_identical_to_in_process(straight, tmp_path, workers):
    other = make_loop(str(tmp_path / "run"), **{"executor.kind": "process", "executor.workers": workers})
    assert other.run_rounds() == "completed round 1"
    assert_same(straight, other)


def test_round_0_stops_between_its_chunks_and_resumes_identically(tmp_path, monkeypatch):
    """Round 0 (the pool filling itself) checkpoints at its chunks, so a time limit or Ctrl-C is honoured in it."""
    from patternboost.families import constructions

    monkeypatch.setattr(constructions, "INITIAL_CHUNK", 100)  # loop.initial = 200: two chunks
    settings = {"loop.rounds": 0}
    straight = make_loop(str(tmp_path / "straight"), **settings)
    assert straight.run_rounds() == "completed round 0"
    interrupted = make_loop(str(tmp_path / "interrupted"), **settings)

    def progress(what, done, total):
        interrupted.stop.requested = True  # after the first chunk's only local-search call
    assert interrupted.run_rounds(progress) == "interrupted in round 0 while searching; checkpointed"
    resumed = make_loop(str(tmp_path / "resumed"), **settings)
    resumed.load_state_dict(interrupted.run.load_checkpoint())
    assert (resumed.round, resumed.chunk) == (0, 1)
    assert resumed.run_rounds() == "completed round 0"
    assert_same(straight, resumed)


def test_a_round_ends_at_the_chunk_that_reaches_the_target(tmp_path, monkeypatch):
    from patternboost.families import constructions

    monkeypatch.setattr(constructions, "INITIAL_CHUNK", 100)  # loop.initial = 200: two chunks
    loop = make_loop(str(tmp_path / "run"), **{"loop.target": 11})  # ex(8; C4), in the first 100 searches
    assert loop.run_rounds() == "reached the target 11"
    assert loop.run.metrics()[-1]["searched"] == 100 and loop.best["score"] == 11


def version_1(state):
    """A checkpoint as patternboost 0.1 wrote it: pool, best and temperature at the top level, no version."""
    family = state["family"]
    pool = {k: v for k, v in family["pool"].items() if k != "verified"}
    return {"round": state["round"], "phase": "sample" if state["phase"] == "propose" else "train",
            "train_step": state["train_step"], "temperature": family["temperature"], "best": family["best"],
            "elapsed": state["elapsed"], "losses": state["losses"], "pool": pool, "model": state["model"],
            "trainer": state["trainer"], "torch_rng": state["torch_rng"]}


def test_a_version_1_checkpoint_resumes_and_an_unknown_version_is_refused(straight, tmp_path):
    from patternboost.errors import UserError

    old = make_loop(str(tmp_path / "old"), **{"loop.rounds": 0})
    old.run_rounds()  # round 0 only: the checkpoint is at round 1, before training
    state = old.run.load_checkpoint()
    resumed = make_loop(str(tmp_path / "resumed"))
    resumed.load_state_dict(version_1(state))
    assert resumed.run_rounds() == "completed round 1"
    assert_same(straight, resumed)
    with pytest.raises(UserError, match="this checkpoint has version 99"):
        resumed.load_state_dict({**state, "version": 99})


def test_a_long_phase_logs_its_progress_and_writes_its_status(straight, tmp_path, monkeypatch, caplog):
    from patternboost import loop as loop_module

    monkeypatch.setattr(loop_module, "LOG_EVERY", 0.0)  # as if every step took a minute
    run = make_loop(str(tmp_path / "run"), **{"loop.rounds": 1})
    with caplog.at_level("INFO", logger="patternboost"):
        run.run_rounds()
    assert any("round 1: train (loss" in r.getMessage() and "[session" in r.getMessage() for r in caplog.records)
    status = run.run.status()
    assert status["what"] == "stopped: completed round 1" and status["round"] == 2 and status["pid"] > 0


OVERLAP = {"loop.overlap": True, "loop.rounds": 3, "train.steps": 6}


@pytest.fixture(scope="module")
def overlapped(tmp_path_factory):
    loop = make_loop(str(tmp_path_factory.mktemp("overlap") / "run"), **OVERLAP)
    assert loop.run_rounds() == "completed round 3"
    return loop


def test_overlap_searches_last_rounds_samples_beside_training(overlapped):
    """Round 1 only samples; rounds 2 and 3 search the samples of the round before, while they train."""
    metrics = {m["round"]: m for m in overlapped.run.metrics()}
    assert metrics[1]["searched"] == 0 and metrics[1]["mean_score"] is None
    assert metrics[2]["searched"] == metrics[3]["searched"] == SETTINGS["sample.count"] * SETTINGS["sample.searches"]
    assert len(overlapped.family.pending) == 1 + (SETTINGS["sample.count"] - 1) // SETTINGS["sample.batch_size"]


def test_overlap_stopped_mid_training_resumes_identically(overlapped, tmp_path):
    interrupted = make_loop(str(tmp_path / "interrupted"), **OVERLAP)

    def progress(what, done, total):
        if what.startswith("train") and interrupted.round == 2 and done == 3:
            interrupted.stop.requested = True  # while round 1's samples are being searched
    assert "in round 2 at training step 3" in interrupted.run_rounds(progress)
    assert interrupted.family.pending and interrupted.family.pending[0][0] == 1  # not absorbed: redone on resume
    resumed = make_loop(str(tmp_path / "resumed"), **OVERLAP)
    resumed.load_state_dict(interrupted.run.load_checkpoint())
    assert resumed.run_rounds() == "completed round 3"
    assert_same(overlapped, resumed)


def test_overlap_with_1_or_2_worker_processes_ends_identical(tmp_path):
    """With worker processes, training keeps half the cores whatever their number: the same run."""
    loops = [make_loop(str(tmp_path / f"workers-{n}"), **OVERLAP, **{"executor.kind": "process",
                                                                    "executor.workers": n}) for n in (1, 2)]
    for loop in loops:
        assert loop.run_rounds() == "completed round 3"
    assert_same(*loops)


def test_edits_sample_pool_elites_with_k_tokens_changed_and_resume_identically(tmp_path):
    """sample.edits = 2: every sample is a pool elite's edge set with 2 edges replaced, and a round stopped after
    its first chunk (the pool has changed since the round began) resumes to the same end."""
    from patternboost import tokens

    straight = make_loop(str(tmp_path / "straight"), **{"sample.edits": 2})
    assert straight.run_rounds() == "completed round 1"
    family = straight.family
    samples = [set(s) for s in tokens.unpack(family.draw_rows(straight.decoder, 40, 1.0, 9))[0]]
    elites = [set(e) for e in family.problem.encode(family.pool.objects)]
    assert all(any(len(s) == len(e) and len(s - e) == 2 for e in elites) for s in samples)

    interrupted = make_loop(str(tmp_path / "interrupted"), **{"sample.edits": 2})

    def progress(what, done, total):
        if what == "local search" and interrupted.round == 1 and done == 2:
            interrupted.stop.requested = True
    interrupted.run_rounds(progress)
    resumed = make_loop(str(tmp_path / "resumed"), **{"sample.edits": 2})
    resumed.load_state_dict(interrupted.run.load_checkpoint())
    assert (resumed.round, resumed.chunk) == (1, 1)
    assert resumed.run_rounds() == "completed round 1"
    assert_same(straight, resumed)
