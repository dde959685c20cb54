"""Training with DDP under torchrun on CPU (gloo, 2 processes): the same losses as one process on the same global
batches, only rank 0 writes the run directory, and a checkpoint written at world size 2 resumes at world size 1."""
import json
import os
import subprocess
import sys

import pytest
import torch

from patternboost import distributed
from tests.conftest import ROOT, TINY, run_cli


def torchrun(*args, tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # torchrun leaves torchelastic_* folders behind
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    proc = subprocess.run([torchrun, "--standalone", "--nproc_per_node=2", "-m", "patternboost.cli", *args],
                          capture_output=True, text=True, check=False, timeout=300, cwd=ROOT, env=env)
    return proc.returncode, proc.stdout, proc.stderr


def metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(one process, two processes) run directories of the same tiny run, 2 rounds."""
    tmp = tmp_path_factory.mktemp("ddp")
    args = ["run", "c4_free", *TINY, "--rounds", "2"]
    code, _, err = run_cli(*args, "--run-dir", str(tmp / "one"))
    assert code == 0, err
    code, out, err = torchrun(*args, "--run-dir", str(tmp / "two"), tmp_path=tmp)
    assert code == 0, out + err
    return tmp / "one", tmp / "two"


def assert_same_run(a, b):
    for x, y in zip(metrics(a), metrics(b), strict=True):
        assert x["round"] == y["round"]
        if x["train_loss"] is not None:
            assert y["train_loss"] == pytest.approx(x["train_loss"], rel=1e-5)
        assert (x["best_score"], x["pool_size"], x["pool_mean"]) == (y["best_score"], y["pool_size"], y["pool_mean"])


def test_two_processes_train_as_one(runs):
    one, two = runs
    assert [m["train_loss"] is not None for m in metrics(two)] == [False, True, True]
    assert_same_run(one, two)


def test_only_rank_0_writes_the_run_directory(runs):
    _, two = runs
    with open(two / "log.txt") as handle:
        log = handle.read()
    assert log.count(" INFO run ") == 1 and log.count("stopped: completed round 2") == 1
    assert [m["round"] for m in metrics(two)] == [0, 1, 2]


def test_a_world_size_2_checkpoint_resumes_at_world_size_1(runs, tmp_path):
    one, _ = runs
    args = ["run", "c4_free", *TINY, "--rounds", "1", "--run-dir", str(tmp_path / "run")]
    code, out, err = torchrun(*args, tmp_path=tmp_path)
    assert code == 0, out + err
    code, _, err = run_cli("resume", str(tmp_path / "run"), "--rounds", "2")
    assert code == 0, err
    assert_same_run(one, tmp_path / "run")


def test_shard_splits_every_tensor_by_rows():
    batch = (torch.arange(10).reshape(5, 2), {"x": torch.arange(5), "name": "kept"}, torch.tensor(3.0))
    parts = [distributed.shard(batch, rank, 2) for rank in range(2)]
    assert [p[0].shape[0] for p in parts] == [3, 2] and distributed.rows(parts[1]) == 2
    assert torch.equal(torch.cat([p[1]["x"] for p in parts]), torch.arange(5))
    assert parts[0][1]["name"] == "kept" and parts[1][2].item() == 3.0
