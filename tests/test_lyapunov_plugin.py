"""The lyapunov discovery plugin: its pairs verify, its input parser, and a tiny run of the whole loop."""
import json

import numpy as np
import pytest

from patternboost import UserError, load_problem
from patternboost.config import EngineConfig, apply_engine_settings
from patternboost.loop import Loop
from patternboost.rundir import RunDir
from problems.lyapunov import expressions


@pytest.fixture(scope="module")
def lyapunov():
    return load_problem("lyapunov", test_size=2, forward_test_size=1)


def test_backward_pairs_verify_and_problems_are_systems(lyapunov):
    prompts, answers = lyapunov.examples(8, 5)
    assert all(len(p) <= lyapunov.max_prompt and len(a) <= lyapunov.max_answer for p, a in zip(prompts, answers))
    assert [lyapunov.verify(p, a) for p, a in zip(prompts, answers)] == ["valid"] * 8
    assert lyapunov.verify(prompts[0], np.array([0, 0])) == "unparsable"  # what a model may emit
    for prompt in lyapunov.problems(5, 1):
        system = expressions.decode_system(expressions.from_ids(prompt))
        assert 2 <= len(system) <= 3 and all(f.subs({x: 0 for x in f.free_symbols}) == 0 for f in system)


def test_typed_systems_are_read_or_refused_in_one_line(lyapunov):
    prompt = lyapunov.parse_input("x' = -x + y; y' = -x - y")
    assert lyapunov.format_prompt(prompt) == "x0' = -x0 + x1; x1' = -x0 - x1"
    for text, message in [("x' = -x + 1; y' = -y", "0"), ("x0' = -x0", "knows systems of 2 .. 3 equations"),
                          ("x' = -x + z; y' = -y", "z")]:
        with pytest.raises(ValueError, match=message):
            lyapunov.parse_input(text)


def test_a_tiny_run_generates_trains_proposes_and_verifies(tmp_path, lyapunov):
    config = EngineConfig()
    apply_engine_settings(config, {**lyapunov.settings, "data.budget": 60, "train.steps": 4, "model.n_layer": 1,
                                   "model.n_embd": 16, "model.n_head": 2, "sample.count": 3, "sample.batch_size": 3,
                                   "sample.beam": 2, "loop.rounds": 1, "loop.device": "cpu",
                                   "executor.kind": "inline"})
    loop = Loop(lyapunov, config, 0, RunDir.create(str(tmp_path / "run"), {"test": True}), "lyapunov")
    assert loop.run_rounds() == "completed round 1"
    first, second = loop.run.metrics()
    assert first["examples"] == 60 and second["tried"] == 3 and "solved_backward" in second
    assert sum(v for k, v in second.items() if k.startswith("status_")) == 3
    assert json.loads((tmp_path / "run" / "found.json").read_text())["found"] == []  # an untrained model
    with pytest.raises(UserError, match="cannot read"):
        loop.family.ask(loop.decoder, "x' = 1", 2)
    result = loop.family.ask(loop.decoder, "x' = -x; y' = -y", 2)
    assert all(c["status"] in lyapunov.statuses for c in result["candidates"])


def test_the_gpu_configuration_file_resolves_to_a_valid_run(tmp_path):
    """configs/lyapunov-gpu.toml: every key known, the plugin builds, its pairs fit its limits."""
    import argparse
    import os

    from patternboost.cli import resolved_config

    path = os.path.join(os.path.dirname(__file__), "..", "configs", "lyapunov-gpu.toml")
    args = argparse.Namespace(config=path, problem=None, set=[], rounds=None, time_limit=None, target=None,
                              device=None, seed=None)
    data, plugin = resolved_config(args)
    assert data["problem"]["params"]["max_equations"] == 5 and data["model"]["n_layer"] == 8
    prompts, answers = plugin.examples(3, 0)
    assert [plugin.verify(p, a) for p, a in zip(prompts, answers)] == ["valid"] * 3
