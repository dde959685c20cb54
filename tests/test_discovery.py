"""The headline claim, reproduced: the main job finds ex(33; C4) = 96 (about a minute on 2 cores)."""
import json
import os

import pytest

from tests.conftest import run_cli


@pytest.mark.slow
def test_main_job_reaches_ex_33(tmp_path):
    run_dir = str(tmp_path / "run")
    code, out, err = run_cli("run", "c4_free", "--time-limit", "10m", "--device", "cpu", "--run-dir", run_dir,
                             timeout=900)
    assert code == 0, err
    assert "reached the target 96" in out
    with open(os.path.join(run_dir, "best.json")) as f:
        best = json.load(f)
    assert best["score"] == 96 and best["verified"] and len(best["object"]["edges"]) == 96
