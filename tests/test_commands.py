"""ask, sample and status on finished runs: read-only, one line and exit 2 for what they cannot do."""
import json
import os

import pytest

from patternboost.cli import main
from patternboost.rundir import RunDir
from tests.conftest import TINY, TINY_ENGINE, run_cli

GCD = ["--set", "base=10", "--set", "max_operand=1000", "--set", "test_size=50", "--set", "per_outcome=2",
       "--set", "train.steps=30", "--set", "train.batch_size=32", "--set", "model.n_layer=1",
       "--set", "model.n_embd=32", "--set", "model.n_head=2", "--device", "cpu", "--rounds", "1"]


def snapshot(folder):
    return {os.path.join(root, name): os.stat(os.path.join(root, name)).st_mtime_ns
            for root, _, names in os.walk(folder) for name in names}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    code, _, err = run_cli("run", "gcd", *GCD, "--run-dir", str(folder / "gcd"))
    assert code == 0, err
    code, _, err = run_cli("run", "c4_free", *TINY, "--rounds", "1", "--run-dir", str(folder / "c4"))
    assert code == 0, err
    return folder


def bad(capsys, *args):
    """The CLI in this process (a subprocess costs seconds of imports): exit 2, one line, no traceback."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, (out, err)
    return err


def test_ask_answers_a_trained_gcd_run_and_writes_nothing(runs):
    before = snapshot(runs / "gcd")
    code, out, err = run_cli("ask", str(runs / "gcd"), "12 18")
    assert code == 0, err
    assert out.startswith(("1. ", "12 18: no answer")), out
    code, out, err = run_cli("ask", str(runs / "gcd"), "gcd(12, 18)", "--beam", "3", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["input"] == "gcd(12, 18)" and 1 <= len(result["answers"]) <= 3
    log_probs = [a["log_prob"] for a in result["answers"]]
    assert log_probs == sorted(log_probs, reverse=True)
    for answer in result["answers"]:  # checked against the true gcd, 6
        assert answer["correct"] == (answer["answer"] == "6")
    assert snapshot(runs / "gcd") == before


def test_sample_prints_graphs_of_a_trained_run_and_writes_nothing(runs, tmp_path, capsys):
    before = snapshot(runs / "c4")
    code, out, err = run_cli("sample", str(runs / "c4"), "--count", "5")
    assert code == 0, err
    samples = [json.loads(line) for line in out.splitlines()]
    assert len(samples) == 5 and all("edges" in s["object"] and "well_formed" in s for s in samples)
    out_file = tmp_path / "samples.jsonl"
    code, out, err = run_cli("sample", str(runs / "c4"), "--count", "4", "--search", "--out", str(out_file))
    assert code == 0 and "4 samples written" in out, err
    searched = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert len(searched) == 4 and all(s["verified"] and s["score"] == len(s["object"]["edges"]) for s in searched)
    assert snapshot(runs / "c4") == before
    assert "already exists" in bad(capsys, "sample", str(runs / "c4"), "--out", str(out_file))


def test_what_ask_and_sample_cannot_do_is_one_line(runs, tmp_path, capsys):
    assert "cannot read 'hello'" in bad(capsys, "ask", str(runs / "gcd"), "hello")
    assert "takes no input" in bad(capsys, "ask", str(runs / "c4"), "12 18")
    assert "answers inputs" in bad(capsys, "sample", str(runs / "gcd"))
    assert "--count must be at least 1" in bad(capsys, "sample", str(runs / "c4"), "--count", "0")
    assert "does not exist" in bad(capsys, "ask", str(tmp_path / "missing"), "1 2")
    code, _, err = run_cli("run", "c4_free", *TINY, "--rounds", "0", "--run-dir", str(tmp_path / "untrained"))
    assert code == 0, err
    assert "has not trained its model yet" in bad(capsys, "sample", str(tmp_path / "untrained"))


def test_status_passes_over_what_is_not_a_run(runs, tmp_path, capsys):
    readme = runs / "README.md"
    readme.write_text("runs live here\n")
    code, out, err = run_cli("status", str(runs / "c4"), str(runs / "gcd"), str(readme))
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2 and "best 11" in lines[0] and "accuracy" in lines[1]
    assert "stopped: completed round 1" in lines[0]
    assert "does not exist" in bad(capsys, "status", str(tmp_path / "missing"))


def test_status_shows_the_live_phase_of_a_running_run(tmp_path):
    run = RunDir.create(str(tmp_path / "live"), {"seed": 0, "family": "constructions",
                                                  "problem": {"spec": "c4_free", "params": {}}})
    run.write_status({"round": 3, "phase": "train", "what": "train (loss 0.5)", "done": 120, "total": 500,
                      "session_s": 372.0, "elapsed_s": 900.0})  # written by this (alive) process
    code, out, err = run_cli("status", str(tmp_path / "live"))
    assert code == 0, err
    assert "running: round 3 train (loss 0.5) 120/500, session 372s, elapsed 900s" in out


def test_resume_says_when_the_plugin_file_changed(tmp_path):
    plugin = tmp_path / "ones.py"
    plugin.write_text(ONES)
    run_dir = str(tmp_path / "run")
    code, _, err = run_cli("run", f"{plugin}:Ones", *TINY_ENGINE, "--rounds", "0", "--run-dir", run_dir)
    assert code == 0, err
    code, out, err = run_cli("resume", run_dir, "--rounds", "0")
    assert code == 0 and "has changed" not in out, err
    plugin.write_text(ONES + "# edited\n")
    code, out, err = run_cli("resume", run_dir, "--rounds", "0")
    assert code == 0 and f"the plugin file {plugin} has changed since this run started" in out, err


ONES = "from tests.test_problem import Bits as Ones  # a well-behaved plugin, in a file of its own\n"
