"""Jets on the loop (the density family) with the exact toy truth: the extrapolation methods' losses and batches,
a bootstrapping run stopped mid-training resumes identically, the CLI (run, show, sample --out), bad input."""
import os

import numpy as np
import pytest
import torch

from patternboost import load_problem
from patternboost.cli import main
from patternboost.config import EngineConfig, apply_engine_settings
from patternboost.loop import Loop
from patternboost.rundir import RunDir
from problems.jets.events import read_events

SMALL = {"truth": "toy", "train_events": 3000, "test_events": 4000, "n_max": 2, "extrapolate": 2}
ENGINE = {"loop.rounds": 1, "loop.device": "cpu", "executor.kind": "inline", "train.steps": 12,
          "train.batch_size": 64, "train.warmup": 1, "model.n_layer": 1, "model.n_embd": 16, "model.n_head": 2,
          "sample.count": 600, "sample.batch_size": 300}
BOOTSTRAP = {"method": "bootstrap", "bootstrap_warmup": 3, "bootstrap_every": 4, "bootstrap_samples": 200,
             "bootstrap_buffer": 50, "toy_rate": 0.3}


def make_loop(folder, params, resume=False, **settings):
    config = EngineConfig()
    apply_engine_settings(config, {**ENGINE, **settings})
    problem = load_problem("jets", **{**SMALL, **params})
    run = RunDir.open(folder) if resume else RunDir.create(folder, {"test": True})
    return Loop(problem, config, 5, run, "jets")


def made_truth(tmp_path, params):
    """A loop past round 0 (the truth made and fitted)."""
    loop = make_loop(str(tmp_path / "run"), params, **{"loop.rounds": 0})
    assert loop.run_rounds() == "completed round 0"
    return loop


@pytest.mark.parametrize("method", ["full", "reduced", "perturbed"])
def test_each_method_scores_the_stop_at_the_longest_training_length_its_own_way(tmp_path, method):
    loop = made_truth(tmp_path, {"method": method, "stop_target": 0.25})
    family, model = loop.family, loop.model
    lengths, x, drop = family.batches(1, model)(0)
    assert lengths.max() <= family.plugin.train_length and x.shape[1] == family.plugin.train_length
    assert drop == (family.plugin.train_length if method == "reduced" else None)
    longest = lengths == family.plugin.train_length
    assert longest.any() and (~longest).any()
    from patternboost.mixture import log_likelihood

    like = log_likelihood(model, x, lengths, 2, family.modelled, family.plugin.train_length)
    final_stop = like.stop[longest, family.plugin.train_length]
    expected = {"full": like.nll(), "reduced": like.nll(drop_max_stop=True)}.get(method)
    if method == "perturbed":  # BCE against target q instead of 1, at the final stop of the longest sequences
        logit = model.head.stop_logit(model(torch.cat((x.new_zeros(len(x), 1, 4), x), 1))[0])[longest, -1]
        q = 0.25
        changed = -(q * torch.nn.functional.logsigmoid(logit) + (1 - q) * torch.nn.functional.logsigmoid(-logit))
        expected = like.nll().clone()
        expected[longest] += changed - final_stop
    assert torch.allclose(family.loss(model, (lengths, x, drop)), expected.mean(), atol=1e-5)


def test_the_default_perturbed_target_is_the_staircase_stop_probability(tmp_path):
    loop = made_truth(tmp_path, {"method": "perturbed"})
    lengths, longest = loop.family.truth["train"][0], loop.family.plugin.train_length
    expected = 1 - (lengths == longest).sum() / (lengths == longest - 1).sum()
    assert loop.family.stop_target == pytest.approx(expected) and 0.55 < expected < 0.9  # toy: 1 - R = 0.75


def test_bootstrap_batches_mix_in_generated_longer_events_at_the_models_rate(tmp_path):
    loop = made_truth(tmp_path, BOOTSTRAP)
    family, model, longest = loop.family, loop.model, loop.family.plugin.train_length + 1
    batch = family.batches(1, model)
    lengths, x, drop = batch(0)  # warm-up: the reduced loss, no FIFO yet
    assert family.buffer is None and drop == longest - 1 and x.shape[1] == longest - 1
    lengths, x, drop = batch(3)  # the first refill
    assert drop == longest and x.shape[1] == longest
    assert family.buffer is not None and 0 < len(family.buffer) <= 50 and family.buffer.shape[1] == longest
    assert family.buffer_rate == pytest.approx(len(family.buffer) / 200) or len(family.buffer) == 50
    mixed = lengths == longest
    assert torch.isfinite(x).all() and mixed.sum() < len(lengths)
    assert all(any(torch.equal(row, torch.from_numpy(b)) for b in family.buffer) for row in x[mixed])


def test_a_bootstrapping_run_stopped_mid_training_resumes_identically(tmp_path):
    straight = make_loop(str(tmp_path / "straight"), BOOTSTRAP)
    assert straight.run_rounds() == "completed round 1"
    interrupted = make_loop(str(tmp_path / "interrupted"), BOOTSTRAP)

    def progress(what, done, total):
        if what.startswith("train") and done == 6:  # after a refill at step 3, before the one at step 7
            interrupted.stop.requested = True
    assert "interrupted in round 1 at training step 6" in interrupted.run_rounds(progress)
    resumed = make_loop(str(tmp_path / "interrupted"), BOOTSTRAP, resume=True)  # as a new process would
    resumed.load_state_dict(resumed.run.load_checkpoint())
    assert resumed.run_rounds() == "completed round 1"
    assert np.array_equal(straight.family.buffer, resumed.family.buffer)
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    metrics = [{k: v for k, v in loop.run.metrics()[-1].items() if not k.endswith("_s")}
               for loop in (straight, resumed)]
    assert metrics[0] == metrics[1] and metrics[0]["buffer"] > 0


def test_the_cli_runs_shows_and_samples_events(tmp_path, capsys):
    run = str(tmp_path / "run")
    sets = [f"{k}={v}" for k, v in {**SMALL, **ENGINE}.items()]
    assert main(["run", "jets", "--run-dir", run, *[a for s in sets for a in ("--set", s)]]) == 0
    record = RunDir.open(run).metrics()[-1]
    assert record["R_exact"] == pytest.approx(0.2515, abs=1e-4)
    assert 0.2 < record["R0_truth"] < 0.3 and record["test_nll"] is not None
    assert {"R2_rel_error", "R3_rel_error", "w1_pt_j3", "chi2_eta_j3"} <= set(record)
    assert os.path.exists(os.path.join(run, "plots", "round-001-staircase.png"))
    capsys.readouterr()
    assert main(["show", run]) == 0
    shown = capsys.readouterr().out
    assert "R_n truth" in shown and "exact toy R_n = 0.2515" in shown
    out = str(tmp_path / "generated.npz")
    assert main(["sample", run, "--count", "50", "--out", out, "--seed", "3"]) == 0
    multiplicity, particles, settings = read_events(out)
    assert len(multiplicity) == 50 and multiplicity.max() <= 4 and settings["generated"]["seed"] == 3
    assert np.isfinite(particles[:, :2]).all()
    capsys.readouterr()
    assert main(["sample", run, "--count", "50", "--out", out]) == 2  # never overwrites
    assert main(["sample", run, "--count", "5"]) == 2  # events go to a file
    assert "--out" in capsys.readouterr().err


@pytest.mark.parametrize("setting, message", [("method=sideways", "method must be one of"),
                                              ("n_max=0", "n_max and extrapolate must be at least 1"),
                                              ("truth=madgraph", "truth must be pythia or toy"),
                                              ("stop_target=1.5", "stop_target must be in")])
def test_bad_settings_are_one_line_and_exit_2(tmp_path, capsys, setting, message):
    run = str(tmp_path / "run")
    assert main(["run", "jets", "--run-dir", run, "--set", "truth=toy", "--set", setting]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not os.path.exists(run)


def test_a_run_asking_for_pythia_without_the_jets_extra_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    from problems.jets import plugin
    from problems.jets.truth import EXTRA_MESSAGE, MissingExtra

    def missing():
        raise MissingExtra(EXTRA_MESSAGE)
    monkeypatch.setattr(plugin, "require_extra", missing)
    assert main(["run", "jets", "--run-dir", str(tmp_path / "run")]) == 2
    assert "pip install 'patternboost[jets]'" in capsys.readouterr().err
