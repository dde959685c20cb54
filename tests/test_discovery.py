"""The headline, reproduced: ex(33; C4) = 96 by the strong search alone (seconds) and by the learned loop with the
paper's plain search (configs/c4-headline-cpu.toml, about a minute on 2 cores)."""
import json
import os

import pytest

from tests.conftest import run_cli


@pytest.mark.slow
def test_the_default_search_reaches_ex_33(tmp_path):
    run_dir = str(tmp_path / "run")
    code, out, err = run_cli("run", "c4_free", "--time-limit", "10m", "--device", "cpu", "--run-dir", run_dir,
                             timeout=900)
    assert code == 0, err
    assert "reached the target 96" in out
    with open(os.path.join(run_dir, "best.json")) as f:
        best = json.load(f)
    assert best["score"] == 96 and best["verified"] and len(best["object"]["edges"]) == 96


HEADLINE = os.path.join(os.path.dirname(__file__), "..", "configs", "c4-headline-cpu.toml")


def test_the_headline_config_runs_a_learned_round(tmp_path):
    """configs/c4-headline-cpu.toml, cut down: the plain search, the neighbours encoding, one round of learned
    edits, nearly all of which decode."""
    run_dir = str(tmp_path / "run")
    code, _, err = run_cli("run", "--config", HEADLINE, "--rounds", "1", "--device", "cpu", "--run-dir", run_dir,
                           "--set", "loop.initial=2000", "--set", "train.steps=5", "--set", "sample.count=40")
    assert code == 0, err
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        rounds = [json.loads(line) for line in f]
    assert [r["round"] for r in rounds] == [0, 1] and rounds[1]["searched"] == 40 * 4
    assert rounds[0]["pool_size"] == 100 and 80 <= rounds[0]["best_score"] < 96
    assert rounds[1]["invalid_samples"] <= 40 * 0.25 and rounds[1]["mean_score"] > rounds[0]["mean_score"]


@pytest.mark.slow
def test_the_learned_loop_reaches_ex_33_with_the_plain_search(tmp_path):
    """The paper's headline: with the plain search (which tops out at 89-90), the learned loop reaches 96."""
    run_dir = str(tmp_path / "run")
    code, out, err = run_cli("run", "--config", HEADLINE, "--time-limit", "15m", "--device", "cpu", "--run-dir",
                             run_dir, timeout=1200)
    assert code == 0, err
    assert "reached the target 96" in out
    with open(os.path.join(run_dir, "best.json")) as f:
        best = json.load(f)
    assert best["score"] == 96 and best["verified"] and best["round"] > 0 and best["params"]["climb"] == 0
