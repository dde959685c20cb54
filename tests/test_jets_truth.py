"""Jet events, the truth half: the file format, staircase ratios, the exact toy, and Pythia + FastJet generation."""
import json
import os
import sys
import time

import numpy as np
import pytest

from patternboost.executor import ExecutorConfig, InlineExecutor, make_executor
from problems.jets import events as events_module
from problems.jets.events import multiplicity_fractions, read_events, staircase_ratios, write_events
from problems.jets.toy import toy_events, toy_ratio
from problems.jets.truth import TruthSettings, generate, generate_chunk, main

MUON_MASS = 0.10566


def small_events(count=5, width=5):
    rng = np.random.default_rng(0)
    multiplicity = rng.integers(0, width - 1, count).astype(np.int32)
    particles = np.full((count, width, 4), np.nan, dtype=np.float32)
    for row, n in enumerate(multiplicity):
        particles[row, :2 + n] = rng.random((2 + n, 4))
    return multiplicity, particles


def assert_layout(multiplicity, particles, ptmin, etamax):
    """Muons first; jets by decreasing pT above ptmin inside |eta| < etamax; NaN exactly past 2 + multiplicity."""
    assert multiplicity.dtype == np.int32 and particles.dtype == np.float32
    assert particles.shape == (len(multiplicity), 2 + multiplicity.max(), 4)
    used = np.arange(particles.shape[1])[None, :] < 2 + multiplicity[:, None]
    assert np.isfinite(particles[used]).all() and np.isnan(particles[~used]).all()
    assert (particles[:, :2, 0] > 0).all()
    jets = particles[:, 2:]
    present = used[:, 2:]
    assert (jets[present][:, 0] > ptmin).all() and (np.abs(jets[present][:, 1]) < etamax).all()
    assert (np.abs(jets[present][:, 2]) <= np.pi + 1e-6).all() and (jets[present][:, 3] >= 0).all()
    assert (jets[:, :-1, 0] >= jets[:, 1:, 0])[present[:, 1:]].all()


# ---- the file format ------------------------------------------------------------------------------------------

def test_round_trip_and_refusal_to_overwrite(tmp_path):
    path = tmp_path / "events.npz"
    multiplicity, particles = small_events()
    write_events(path, multiplicity, particles, {"source": "test", "seed": 3})
    got_multiplicity, got_particles, settings = read_events(path)
    assert np.array_equal(got_multiplicity, multiplicity) and got_multiplicity.dtype == np.int32
    assert np.array_equal(got_particles, particles, equal_nan=True) and got_particles.dtype == np.float32
    assert settings == {"source": "test", "seed": 3}
    with pytest.raises(FileExistsError, match="already exists"):
        write_events(path, multiplicity[:2], particles[:2], {})
    assert len(read_events(path)[0]) == 5
    write_events(path, multiplicity[:2], particles[:2], {}, overwrite=True)
    assert len(read_events(path)[0]) == 2


def test_read_refuses_missing_and_foreign_files_in_one_line(tmp_path):
    (tmp_path / "text.npz").write_text("not a zip")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    np.savez(tmp_path / "list.npz", multiplicity=np.zeros(1, np.int32), particles=np.zeros((1, 2, 4), np.float32),
             settings=np.array(json.dumps([1, 2])))
    np.savez(tmp_path / "short.npz", multiplicity=np.array([3], np.int32), particles=np.zeros((1, 2, 4), np.float32),
             settings=np.array("{}"))
    for name, words in [("missing.npz", "no such events file"), ("text.npz", "not an events file"),
                        ("other.npz", "not an events file"), ("list.npz", "not an events file"),
                        ("short.npz", "multiplicities must lie")]:
        with pytest.raises(ValueError, match=words) as error:
            read_events(tmp_path / name)
        assert "\n" not in str(error.value)


def test_a_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "events.npz"
    multiplicity, particles = small_events()

    def broken_savez(file, **arrays):
        file.write(b"PK half a file")
        raise OSError("disk full")

    monkeypatch.setattr(events_module.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        write_events(path, multiplicity, particles, {})
    assert os.listdir(tmp_path) == []
    monkeypatch.undo()
    write_events(path, multiplicity, particles, {"old": True})
    monkeypatch.setattr(events_module.np, "savez", broken_savez)
    with pytest.raises(OSError):
        write_events(path, multiplicity[:1], particles[:1], {}, overwrite=True)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["events.npz"] and read_events(path)[2] == {"old": True}


def test_write_refuses_arrays_out_of_format(tmp_path):
    multiplicity, particles = small_events()
    with pytest.raises(ValueError, match="width - 2"):
        write_events(tmp_path / "a.npz", multiplicity + 10, particles, {})
    with pytest.raises(ValueError, match="events, width, 4"):
        write_events(tmp_path / "a.npz", multiplicity, particles[:, :, :3], {})
    holed = particles.copy()
    holed[0, 1, 2] = np.nan  # the mu- of the first event
    with pytest.raises(ValueError, match="only padding may be NaN"):
        write_events(tmp_path / "a.npz", multiplicity, holed, {})
    assert os.listdir(tmp_path) == []
    np.savez(tmp_path / "holed.npz", multiplicity=multiplicity, particles=holed, settings=np.array("{}"))
    with pytest.raises(ValueError, match="only padding may be NaN"):
        read_events(tmp_path / "holed.npz")


def test_fractions_and_staircase_ratios_with_errors():
    multiplicity = np.repeat([0, 1, 2, 3, 5], [100, 50, 20, 0, 4])
    assert np.allclose(multiplicity_fractions(multiplicity, 3), np.array([100, 50, 20, 0]) / 174)
    ratios, errors = staircase_ratios(multiplicity, 4)
    assert np.allclose(ratios, [0.5, 0.4, 0.0, np.nan], equal_nan=True)
    assert np.allclose(errors[:2], [0.5 * np.sqrt(1 / 100 + 1 / 50), 0.4 * np.sqrt(1 / 50 + 1 / 20)])
    assert np.isnan(errors[2:]).all()  # a zero count has no Poisson error estimate


# ---- the exact toy --------------------------------------------------------------------------------------------

def test_toy_staircase_matches_the_closed_form():
    rate, pt_max, pt_min = 0.1, 400.0, 20.0
    start = time.perf_counter()
    multiplicity, particles = toy_events(100_000, seed=1, rate=rate, pt_max=pt_max, pt_min=pt_min)
    assert time.perf_counter() - start < 3
    exact = toy_ratio(rate, pt_max, pt_min)
    assert exact == pytest.approx(1 - (pt_min / pt_max) ** rate)
    ratios, errors = staircase_ratios(multiplicity, 3)
    assert (np.abs(ratios - exact) < 4 * errors).all()
    pooled = multiplicity.mean() / (1 + multiplicity.mean())  # the geometric's maximum-likelihood ratio
    assert abs(pooled - exact) < 4 * np.sqrt(exact * (1 - exact) ** 2 / len(multiplicity))
    assert_layout(multiplicity, particles, pt_min, 5.0)
    assert (particles[:, 2:, 0][multiplicity[:, None] > np.arange(particles.shape[1] - 2)] <= pt_max).all()
    assert np.allclose(particles[:, 0, 0], particles[:, 1, 0]) and np.allclose(particles[:, :2, 3], MUON_MASS)


def test_toy_is_deterministic_from_the_seed():
    a, b, c = toy_events(500, 4), toy_events(500, 4), toy_events(500, 5)
    assert np.array_equal(a[1], b[1], equal_nan=True)
    assert not np.array_equal(a[1][:, :2], c[1][:, :2])


# ---- Pythia + FastJet -----------------------------------------------------------------------------------------

SETTINGS = TruthSettings().to_dict()


@pytest.fixture(scope="module")
def chunk():
    return generate_chunk(SETTINGS, 150, 11)


def test_truth_event_layout(chunk):
    multiplicity, particles = chunk
    assert len(multiplicity) == 150 and multiplicity.max() >= 1
    assert_layout(multiplicity, particles, 20.0, 5.0)
    assert np.allclose(particles[:, :2, 3], MUON_MASS, atol=1e-4)
    pt, eta, phi = (particles[:, :2, k].astype(np.float64) for k in range(3))
    mass = np.sqrt(2 * pt[:, 0] * pt[:, 1] * (np.cosh(eta[:, 0] - eta[:, 1]) - np.cos(phi[:, 0] - phi[:, 1])))
    assert 80 < np.median(mass) < 100  # the Z peak (photon radiation can pull single events below mHatMin)


def test_truth_same_seed_same_events_in_this_process(chunk):
    generate_chunk(SETTINGS, 20, 12)  # other events in between change nothing: each chunk reseeds
    again = generate_chunk(SETTINGS, 150, 11)
    assert np.array_equal(again[0], chunk[0]) and np.array_equal(again[1], chunk[1], equal_nan=True)
    other = generate_chunk(SETTINGS, 150, 12)
    assert not np.array_equal(other[1][:, :2], chunk[1][:, :2])


def test_truth_jet_settings_apply(chunk):
    multiplicity, particles = generate_chunk(dict(SETTINGS, jet_ptmin=40.0, jet_etamax=2.5), 150, 11)
    assert np.array_equal(particles[:, :2], chunk[1][:, :2])  # the same events: jet cuts need no new Pythia
    assert_layout(multiplicity, particles, 40.0, 2.5)
    assert multiplicity.sum() < chunk[0].sum()


def test_truth_rejects_bad_seeds_and_settings():
    with pytest.raises(ValueError, match="seeds are 1 .. 900000000"):
        generate_chunk(SETTINGS, 1, 0)
    with pytest.raises(ValueError, match="level must be one of parton, hadron"):
        generate_chunk(dict(SETTINGS, level="detector"), 1, 1)


def test_hadron_level_events_are_reproducible_too():
    hadron = dict(SETTINGS, level="hadron")  # MPI and hadronisation: far more random draws per event
    multiplicity, particles = generate_chunk(hadron, 20, 3)
    assert_layout(multiplicity, particles, 20.0, 5.0)
    generate_chunk(hadron, 5, 4)
    assert np.array_equal(generate_chunk(hadron, 20, 3)[1], particles, equal_nan=True)


def test_missing_extra_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "pythia8mc", None)  # makes `import pythia8mc` raise ImportError
    with pytest.raises(ImportError, match=r"^jet events need the jets extra: pip install 'patternboost\[jets\]'$"):
        generate(tmp_path / "a.npz", 10, 1)
    assert main([str(tmp_path / "a.npz"), "--events", "10"]) == 2
    assert capsys.readouterr().err.strip().endswith("pip install 'patternboost[jets]'")


# ---- files, resume, workers -----------------------------------------------------------------------------------

def generate_small(path, **kwargs):
    kwargs.setdefault("executor", InlineExecutor())
    return generate(path, 130, seed=5, chunk_events=50, **kwargs)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    path = tmp_path_factory.mktemp("truth") / "straight.npz"
    generate_small(path)
    return read_events(path)


def test_file_holds_every_setting(uninterrupted):
    multiplicity, particles, settings = uninterrupted
    assert len(multiplicity) == 130 and settings["truth"] == SETTINGS
    assert settings["seed"] == 5 and settings["events"] == 130 and settings["chunk_events"] == 50
    assert "HadronLevel:all = off" in settings["pythia_strings"] and settings["versions"]["pythia8mc"].startswith("8.317")
    assert_layout(multiplicity, particles, 20.0, 5.0)


def interrupt_after_first_chunk(done, total):
    """A progress callback standing in for Ctrl-C once the first chunk is written."""
    if done > 0:
        raise KeyboardInterrupt


def test_interrupted_generation_resumes_to_the_same_file(uninterrupted, tmp_path):
    path = tmp_path / "resumed.npz"
    with pytest.raises(KeyboardInterrupt):
        generate_small(path, progress=interrupt_after_first_chunk)
    assert not path.exists() and os.listdir(str(path) + ".parts") == ["chunk-000000.npz"]
    calls = []
    generate_small(path, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(50, 130), (100, 130), (130, 130)]  # the first chunk was reused, not made again
    got = read_events(path)
    assert np.array_equal(got[0], uninterrupted[0]) and np.array_equal(got[1], uninterrupted[1], equal_nan=True)
    assert got[2] == uninterrupted[2] and not os.path.exists(str(path) + ".parts")


def test_resume_refuses_parts_made_with_other_settings(tmp_path):
    path = tmp_path / "events.npz"
    with pytest.raises(KeyboardInterrupt):
        generate_small(path, progress=interrupt_after_first_chunk)
    with pytest.raises(ValueError, match="other settings") as error:
        generate_small(path, settings=TruthSettings(jet_ptmin=30.0))
    assert "\n" not in str(error.value)


def test_generate_refuses_to_overwrite(tmp_path):
    path = tmp_path / "events.npz"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="already exists"):
        generate_small(path)
    assert path.read_bytes() == b"precious" and os.listdir(tmp_path) == ["events.npz"]


def test_worker_processes_make_the_same_file(uninterrupted, tmp_path):
    """Fresh worker processes, each with its own Pythia, make what this process made after other chunks."""
    executor = make_executor(ExecutorConfig(kind="process", workers=2))
    try:
        generate_small(tmp_path / "parallel.npz", executor=executor)  # fresh processes: each reseeds the same way
    finally:
        executor.close()
    got = read_events(tmp_path / "parallel.npz")
    assert np.array_equal(got[1], uninterrupted[1], equal_nan=True) and got[2] == uninterrupted[2]


# ---- the command line -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("arguments, words", [
    (["--events", "0"], "--events must be at least 1"),
    (["--events", "10", "--level", "detector"], "level must be one of parton, hadron"),
    (["--events", "ten"], "invalid int value"),
    ([], "required: --events"),
    (["--events", "10", "--R", "-1"], "must be positive"),
])
def test_main_refuses_bad_input_in_one_line(tmp_path, capsys, arguments, words):
    assert main([str(tmp_path / "out.npz"), *arguments]) == 2
    error = capsys.readouterr().err
    assert words in error and error.count("\n") == 1
    assert os.listdir(tmp_path) == []


def test_main_writes_a_file_and_a_summary_and_refuses_to_overwrite(tmp_path, capsys):
    out = str(tmp_path / "out.npz")
    assert main([out, "--events", "40", "--workers", "1", "--seed", "2"]) == 0
    summary = capsys.readouterr().out
    assert summary.count("\n") == 1 and "40 parton-level events" in summary and "0:0." in summary
    assert len(read_events(out)[0]) == 40
    assert main([out, "--events", "40", "--workers", "1"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_patternboost_jets_generate_reaches_the_generator(tmp_path, capsys):
    from patternboost.cli import main as patternboost

    assert patternboost(["jets", "generate", str(tmp_path / "e.npz"), "--events", "0"]) == 2
    assert "--events must be at least 1" in capsys.readouterr().err
    assert patternboost(["jets"]) == 2 and "patternboost jets generate" in capsys.readouterr().err
