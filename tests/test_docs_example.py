"""The smallest plugin in docs/writing-a-problem.md runs as written."""
import itertools
import json
import os
import re

from tests.conftest import ROOT, run_cli


def readme_plugin(marker="plugin-example"):
    with open(os.path.join(ROOT, "docs", "writing-a-problem.md")) as f:
        text = f.read()
    return re.search(rf"<!-- {marker} -->\n```python\n(.*?)```", text, re.DOTALL).group(1)


def test_readme_plugin_runs_end_to_end(tmp_path):
    plugin = tmp_path / "sidon.py"
    plugin.write_text(readme_plugin())
    run_dir = str(tmp_path / "run")
    code, out, err = run_cli("run", f"{plugin}:Sidon", "--set", "N=30", "--set", "loop.initial=200",
                             "--set", "train.steps=5", "--set", "sample.count=40", "--set", "model.n_layer=1",
                             "--rounds", "1", "--run-dir", run_dir)
    assert code == 0, err
    assert "round 1: best" in out
    with open(os.path.join(run_dir, "best.json")) as f:
        best = json.load(f)
    chosen = [i for i, x in enumerate(best["object"]) if x]
    sums = [a + b for a, b in itertools.combinations_with_replacement(chosen, 2)]
    assert len(sums) == len(set(sums)) and len(chosen) == best["score"] >= 6
    code, out, _ = run_cli("resume", run_dir, "--rounds", "2")
    assert code == 0 and "round 2: best" in out


def test_docs_task_runs_end_to_end(tmp_path):
    plugin = tmp_path / "sort.py"
    plugin.write_text(readme_plugin("task-example"))
    run_dir = str(tmp_path / "run")
    code, _out, err = run_cli("run", f"{plugin}:Sort", "--set", "length=4", "--set", "test_size=50",
                             "--set", "data.regime=budget", "--set", "data.budget=500", "--set", "train.steps=5",
                             "--set", "model.n_layer=1", "--rounds", "2", "--run-dir", run_dir)
    assert code == 0, err
    with open(os.path.join(run_dir, "report.json")) as f:
        report = json.load(f)
    assert 0 <= report["accuracy"] <= 1 and [h["step"] for h in report["history"]] == [5, 10]
    assert report["run"]["data_stats"]["distinct"] == 500
