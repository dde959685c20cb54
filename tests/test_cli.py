"""The CLI end to end on tiny runs: run, status, show, problems, the target, config files and bad input."""
import json
import os

import numpy as np
import torch

from patternboost.cli import main
from tests.conftest import TINY, run_cli


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def read_json(path):
    return json.loads(read(path))


def metrics(run_dir):
    return [json.loads(line) for line in read(os.path.join(run_dir, "metrics.jsonl")).splitlines()]


def final_state(run_dir):
    name = read_json(os.path.join(run_dir, "checkpoints", "latest"))["file"]
    return torch.load(os.path.join(run_dir, "checkpoints", name), weights_only=False)


def assert_same_run(a, b):
    sa, sb = final_state(a), final_state(b)
    fa, fb = sa["family"], sb["family"]  # the constructions family's state: pool, best, temperature
    assert sa["round"] == sb["round"] and fa["best"]["score"] == fb["best"]["score"]
    assert np.array_equal(fa["pool"]["objects"], fb["pool"]["objects"])
    assert np.array_equal(fa["pool"]["scores"], fb["pool"]["scores"])
    for name, tensor in sa["model"].items():
        assert torch.equal(tensor, sb["model"][name]), name
    def timeless(run_dir):
        return [{k: v for k, v in r.items() if not k.endswith("_s")} for r in metrics(run_dir)]
    assert timeless(a) == timeless(b)


def test_run_status_show_problems(tmp_path):
    run_dir = str(tmp_path / "run")
    code, out, err = run_cli("run", "c4_free", *TINY, "--rounds", "2", "--run-dir", run_dir)
    assert code == 0, err
    assert "round 2: best" in out
    records = metrics(run_dir)
    assert [r["round"] for r in records] == [0, 1, 2]
    for key in ("round", "best_score", "mean_score", "elapsed_s", "invalid_samples", "temperature"):
        assert key in records[-1]
    best = read_json(os.path.join(run_dir, "best.json"))
    assert best["score"] == 11 and best["known_best"] == 11 and best["verified"]  # ex(8; C4) = 11
    assert {"run.toml", "log.txt", "checkpoints"} <= set(os.listdir(run_dir))

    code, out, _ = run_cli("status", run_dir)
    assert code == 0 and "round 2" in out and "best 11" in out and "gap 0" in out
    png = str(tmp_path / "best.png")
    code, out, _ = run_cli("show", run_dir, "--png", png)
    assert code == 0 and "score 11" in out and "graph6:" in out and "adjacency:" in out
    assert os.path.getsize(png) > 1000
    code, out, _ = run_cli("problems")
    assert code == 0 and "c4_free" in out and "n=33" in out


def test_stops_at_known_optimum(tmp_path):
    args = [a for a in TINY if a not in ("--target", "1000")]
    code, out, _ = run_cli("run", "c4_free", *args, "--rounds", "5", "--run-dir", str(tmp_path / "r"))
    assert code == 0 and "reached the target 11" in out


FAULTY_PLUGIN = """
import dataclasses
import numpy as np
from patternboost import Problem


class NaNScores(Problem):
    @dataclasses.dataclass
    class Params:
        pass

    vocab_size = max_length = 4

    def initial(self, count, seed):
        return np.zeros((count, 4))

    def local_search(self, batch, seed):
        return batch

    def score(self, batch):
        return np.full(len(batch), np.nan)

    def encode(self, batch):
        return [np.zeros(4, dtype=int) for _ in batch]

    def decode(self, sequences):
        return np.zeros((len(sequences), 4)), np.ones(len(sequences), dtype=bool)


class Shrinks(NaNScores):
    def local_search(self, batch, seed):
        return batch[1:]
"""


def bad(capsys, *args):
    """The CLI in this process (a subprocess costs seconds of imports): exit 2, one line, no traceback."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    code, _, err = run_cli("run", "nope")  # the installed entry point once; the rest in this process
    assert code == 2 and err.startswith("patternboost: error: unknown problem 'nope'") and err.count("\n") == 1
    assert "unknown problem 'nope'" in bad(capsys, "run", "nope")
    assert "unknown setting train.stepz" in bad(capsys, "run", "c4_free", "--set", "train.stepz=3")
    assert "unknown parameter 'm'" in bad(capsys, "run", "c4_free", "--set", "m=3")
    assert "expected int" in bad(capsys, "run", "c4_free", "--set", "n=big")
    assert "n must be between" in bad(capsys, "run", "c4_free", "--set", "n=100")
    assert "bad duration" in bad(capsys, "run", "c4_free", "--time-limit", "soon")
    assert "sample.edits must be 0" in bad(capsys, "run", "c4_free", "--set", "sample.edits=-1")
    assert "does not exist" in bad(capsys, "resume", str(tmp_path / "missing"))
    assert "does not exist" in bad(capsys, "show", str(tmp_path / "missing"))
    assert "cannot read config file" in bad(capsys, "run", "c4_free", "--config", str(tmp_path / "none.toml"))
    broken = tmp_path / "broken.py"
    broken.write_text("import not_a_module_anywhere\n")
    assert "failed to import" in bad(capsys, "run", f"{broken}:Thing")
    lacking = tmp_path / "lacking.py"
    lacking.write_text("import dataclasses\nclass Thing:\n    @dataclasses.dataclass\n    class Params:\n"
                       "        pass\n    def __init__(self, params):\n        pass\n")
    assert "missing required method initial()" in bad(capsys, "run", f"{lacking}:Thing")
    assert "has no attribute 'Other'" in bad(capsys, "run", f"{lacking}:Other")
    faulty = tmp_path / "faulty.py"
    faulty.write_text(FAULTY_PLUGIN)
    # Caught by the probe before anything is written (tests/test_problem.py covers every fault).
    assert "score() returned NaN" in bad(capsys, "run", f"{faulty}:NaNScores", "--run-dir", str(tmp_path / "f"))
    assert f"{faulty}:Shrinks: local_search() returned 1 objects, expected 2" in bad(
        capsys, "run", f"{faulty}:Shrinks", "--run-dir", str(tmp_path / "f"))
    assert not (tmp_path / "f").exists()
    if not torch.cuda.is_available():
        assert "no CUDA device" in bad(capsys, "run", "c4_free", *TINY, "--device", "cuda", "--run-dir", str(tmp_path / "c"))


def test_existing_run_dir_and_corrupt_checkpoint_lose_nothing(tmp_path, capsys):
    run_dir = str(tmp_path / "r")
    assert run_cli("run", "c4_free", *TINY, "--rounds", "1", "--run-dir", run_dir)[0] == 0
    snapshot = {name: read(os.path.join(run_dir, name), "rb") for name in ("run.toml", "metrics.jsonl")}
    assert "already exists" in bad(capsys, "run", "c4_free", *TINY, "--run-dir", run_dir)
    latest = read_json(os.path.join(run_dir, "checkpoints", "latest"))["file"]
    path = os.path.join(run_dir, "checkpoints", latest)
    data = read(path, "rb")
    with open(path, "wb") as f:
        f.write(data[: len(data) // 3])
    assert "corrupt or truncated" in bad(capsys, "resume", run_dir)
    for name, content in snapshot.items():
        assert read(os.path.join(run_dir, name), "rb") == content
    assert os.path.getsize(path) == len(data) // 3  # left for the user to inspect, not deleted


def test_config_file_and_flags(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text('seed = 3\n[problem]\nspec = "c4_free"\n[problem.params]\nn = 9\n[train]\nsteps = 4\n')
    run_dir = str(tmp_path / "r")
    code, _, err = run_cli("run", "--config", str(config), *TINY, "--set", "n=10", "--rounds", "1",
                             "--run-dir", run_dir)
    assert code == 0, err
    text = read(os.path.join(run_dir, "run.toml"))
    assert "seed = 3" in text and "n = 10" in text and "steps = 6" in text  # --set wins over the file
    config.write_text("[trian]\nsteps = 4\n")
    assert "unknown section(s) trian" in bad(capsys, "run", "c4_free", "--config", str(config))
