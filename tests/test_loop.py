"""The loop in-process: an interrupt between local-search chunks of a round resumes to the same result."""
import numpy as np
import torch

from patternboost import load_problem
from patternboost.config import EngineConfig, apply_engine_settings
from patternboost.loop import SEARCH_CHUNK, Loop
from patternboost.rundir import RunDir

SETTINGS = {"loop.initial": 200, "loop.pool_size": 30, "loop.rounds": 1, "loop.target": 1000, "loop.device": "cpu",
            "train.steps": 4, "train.batch_size": 8, "train.warmup": 1, "model.n_layer": 1, "model.n_embd": 16,
            "model.n_head": 2, "sample.count": 50, "sample.batch_size": 25, "sample.searches": 50}


def make_loop(folder):
    config = EngineConfig()
    apply_engine_settings(config, SETTINGS)
    problem = load_problem("c4_free", n=8, climb=2)
    return Loop(problem, config, 3, RunDir.create(folder, {"test": True}), "c4_free")


def test_interrupt_between_search_chunks_resumes_identically(tmp_path):
    assert SETTINGS["sample.count"] * SETTINGS["sample.searches"] > 2 * SEARCH_CHUNK  # several chunks
    straight = make_loop(str(tmp_path / "straight"))
    assert straight.run_rounds() == "completed round 1"

    interrupted = make_loop(str(tmp_path / "interrupted"))
    chunks_done = []

    def progress(what, done, total):
        if what == "local search" and interrupted.round == 1:
            chunks_done.append(done)
            interrupted.stop.requested = True  # as a Ctrl-C during the first chunk would
    reason = interrupted.run_rounds(progress)
    assert "in round 1 while sampling" in reason and chunks_done == [SEARCH_CHUNK]

    resumed = make_loop(str(tmp_path / "resumed"))
    resumed.load_state_dict(interrupted.run.load_checkpoint())
    assert resumed.run_rounds() == "completed round 1"
    assert np.array_equal(resumed.pool.objects, straight.pool.objects)
    assert np.array_equal(resumed.pool.scores, straight.pool.scores)
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
