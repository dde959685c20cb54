"""The CLI end to end: resume determinism, time limits, Ctrl-C, kill -9 and partial checkpoint writes."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, TINY, run_cli
from tests.test_cli import assert_same_run, final_state, read


def test_time_limit_stops_inside_a_round_and_resume_carries_on(tmp_path):
    run_dir = str(tmp_path / "r")
    long_training = [*TINY, "--set", "train.steps=1000000"]
    code, out, err = run_cli("run", "c4_free", *long_training, "--time-limit", "3s", "--run-dir", run_dir)
    assert code == 0, err
    first = int(re.search(r"time limit reached in round 1 at training step (\d+); checkpointed", out)[1])
    code, out, err = run_cli("resume", run_dir, "--time-limit", "3s")
    assert code == 0, err
    second = int(re.search(r"time limit reached in round 1 at training step (\d+); checkpointed", out)[1])
    assert 0 < first < second


@pytest.mark.slow  # covered in the default suite by test_loop (in process) and test_tasks (the CLI, a task run)
def test_resume_ends_identical_to_a_straight_run(tmp_path):
    straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
    assert run_cli("run", "c4_free", *TINY, "--rounds", "3", "--run-dir", straight)[0] == 0
    assert run_cli("run", "c4_free", *TINY, "--rounds", "2", "--run-dir", split)[0] == 0
    code, out, err = run_cli("resume", split, "--rounds", "3")
    assert code == 0, err
    assert "resumed" in out and "round 3: best" in out
    assert_same_run(straight, split)


def start(args):
    return subprocess.Popen([sys.executable, "-m", "patternboost.cli", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path, timeout=60):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_ctrl_c_checkpoints_mid_training_and_resumes_identically(tmp_path):
    long_training = [*TINY, "--set", "train.steps=500", "--rounds", "1"]
    straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
    proc = start(["run", "c4_free", *long_training, "--run-dir", split])
    wait_for(os.path.join(split, "checkpoints", "latest"))  # round 0 done, training round 1
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted in round 1 at training step" in out
    state = final_state(split)
    assert state["round"] == 1 and state["phase"] == "train" and 0 < state["train_step"] < 500
    assert run_cli("resume", split)[0] == 0
    assert run_cli("run", "c4_free", *long_training, "--run-dir", straight)[0] == 0
    assert_same_run(straight, split)


def test_kill_9_at_any_moment_leaves_a_resumable_run(tmp_path):
    straight, killed = str(tmp_path / "straight"), str(tmp_path / "killed")
    args = [*TINY, "--rounds", "5"]
    assert run_cli("run", "c4_free", *args, "--run-dir", straight)[0] == 0
    latest = os.path.join(killed, "checkpoints", "latest")
    proc = start(["run", "c4_free", *args, "--run-dir", killed])
    wait_for(latest)
    for delay in (0.0, 0.13, 0.31):  # right after a checkpoint, and at points inside later rounds
        seen = os.stat(latest).st_mtime_ns
        while proc.poll() is None and os.stat(latest).st_mtime_ns == seen:
            time.sleep(0.005)
        time.sleep(delay)
        proc.kill()
        proc.communicate()
        proc = start(["resume", killed])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert_same_run(straight, killed)


def test_partial_checkpoint_write_is_never_the_latest(tmp_path, monkeypatch):
    from patternboost import rundir
    run_dir = str(tmp_path / "r")
    assert run_cli("run", "c4_free", *TINY, "--rounds", "1", "--run-dir", run_dir)[0] == 0
    before = read(os.path.join(run_dir, "checkpoints", "latest"))
    run = rundir.RunDir.open(run_dir)

    def dies_halfway(path, data):  # what a kill during the write leaves: a partial temp file
        with open(os.path.join(os.path.dirname(path), ".tmp-partial"), "wb") as f:
            f.write(data[: len(data) // 2])
        raise KeyboardInterrupt
    monkeypatch.setattr(rundir, "write_atomic", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        run.save_checkpoint(final_state(run_dir), "000099-train-0000000")
    assert read(os.path.join(run_dir, "checkpoints", "latest")) == before
    monkeypatch.undo()
    code, out, err = run_cli("resume", run_dir, "--rounds", "2")
    assert code == 0, err
    assert "round 2: best" in out
