import pytest

from patternboost import UserError
from patternboost.config import EngineConfig, apply_engine_settings, coerce, parse_duration, parse_set


def test_durations():
    assert parse_duration("900") == 900 and parse_duration("30m") == 1800 and parse_duration("1h30m") == 5400
    for bad in ("soon", "30x", "m30"):
        with pytest.raises(UserError):
            parse_duration(bad)


def test_settings_are_typed_and_named():
    config = EngineConfig()
    apply_engine_settings(config, {"train.steps": "7", "loop.target": "none", "sample.temperature": "1.5"})
    assert config.train.steps == 7 and config.loop.target is None and config.sample.temperature == 1.5
    with pytest.raises(UserError, match="unknown setting train.stepz"):
        apply_engine_settings(config, {"train.stepz": "1"})
    with pytest.raises(UserError, match="expected int"):
        apply_engine_settings(config, {"train.steps": "1.5"})
    with pytest.raises(UserError, match="unknown settings section"):
        apply_engine_settings(config, {"trian.steps": "1"})
    assert coerce("x", "true", bool) is True
    assert parse_set(["n=3", "train.steps=4"]) == ({"n": "3"}, {"train.steps": "4"})


def test_problem_settings_sit_between_defaults_and_the_user(tmp_path):
    from patternboost.cli import build_parser, resolved_config
    plugin = tmp_path / "mine.py"
    plugin.write_text("from tests.test_problem import Bits\n\nclass Tuned(Bits):\n"
                      "    settings = {'train.steps': 7, 'loop.initial': 100}\n")
    config = tmp_path / "c.toml"
    config.write_text("[loop]\ninitial = 50\n")

    def resolved(*args):
        return resolved_config(build_parser().parse_args(["run", f"{plugin}:Tuned", *args]))[0]
    assert resolved()["train"]["steps"] == 7 and resolved()["loop"]["initial"] == 100
    assert resolved("--config", str(config))["loop"]["initial"] == 50
    assert resolved("--set", "train.steps=3")["train"]["steps"] == 3


def test_run_toml_keeps_infinities_and_reads_them_back(tmp_path):
    """loop.target=inf (never stop at a target) must survive run.toml, which resume reads."""
    import math

    from patternboost.rundir import RunDir

    run = RunDir.create(str(tmp_path / "run"), {"loop": {"target": math.inf, "low": -math.inf, "odd": [1.5, math.nan]}})
    loop = RunDir.open(run.path).config()["loop"]
    assert loop["target"] == math.inf and loop["low"] == -math.inf and math.isnan(loop["odd"][1])
