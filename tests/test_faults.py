"""A deliberately faulty plugin: local-search chunks that raise, hang past the timeout or kill their worker are
counted and logged, and the run goes on; a plugin whose every chunk fails stops with one line, also in log.txt."""
import json
import os

from patternboost.families import stage_seed
from tests.conftest import run_cli

FAULTY = '''
import dataclasses
import os
import time

import numpy as np

from patternboost import Problem


class Faulty(Problem):
    """Six bits, scored by their ones; local search sets some. Chunks fault by their seed (never the probe's 0, 1)."""

    @dataclasses.dataclass
    class Params:
        mode: str = "some"  # some: by seed % 4 (1 raise, 2 hang, 3 die); all: every chunk raises

    vocab_size, max_length = 2, 6

    def initial(self, count, seed):
        return np.random.default_rng(seed).integers(0, 2, (count, 6)).astype(np.int8)

    def local_search(self, batch, seed):
        fault = (seed % 4 if self.params.mode == "some" else 1) if seed > 1 else 0
        if fault == 1:
            raise RuntimeError("a bad chunk")
        if fault == 2:
            time.sleep(60)
        if fault == 3:
            os._exit(3)
        out = batch.copy()
        out[:, : seed % 3 + 2] = 1
        return out

    def score(self, batch):
        return batch.sum(axis=1).astype(np.float64)

    def encode(self, batch):
        return [row.astype(np.int64) for row in batch]

    def decode(self, sequences):
        out = np.zeros((len(sequences), 6), dtype=np.int8)
        for i, sequence in enumerate(sequences):
            out[i, : min(6, len(sequence))] = sequence[:6]
        return out, np.array([len(s) == 6 for s in sequences])
'''
SMALL = ["--set", "loop.pool_size=20", "--set", "model.n_layer=1", "--set", "model.n_embd=16",
         "--set", "model.n_head=2", "--device", "cpu", "--target", "100"]
CHUNKS = 8  # round 0's local-search calls: loop.initial = 8,000 in calls of 1,000


def fault_kinds(seed):
    """What each of round 0's local-search calls does, from the seeds the engine will give them."""
    return [stage_seed(seed, 0, "search", 0, i) % 4 for i in range(CHUNKS)]


def test_failed_chunks_are_reported_and_the_run_goes_on(tmp_path):
    plugin = tmp_path / "faulty.py"
    plugin.write_text(FAULTY)
    seed = next(s for s in range(100) if set(fault_kinds(s)) == {0, 1, 2, 3})
    kinds = fault_kinds(seed)
    run_dir = tmp_path / "run"
    code, out, err = run_cli("run", f"{plugin}:Faulty", *SMALL, "--set", f"loop.initial={CHUNKS * 1000}",
                             "--set", "executor.kind=process", "--set", "executor.workers=2",
                             "--set", "executor.timeout=2", "--seed", str(seed), "--rounds", "0",
                             "--run-dir", str(run_dir), timeout=120)
    assert code == 0 and "completed round 0" in out, err
    record = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])
    assert record["failed_chunks"] == sum(k != 0 for k in kinds)
    assert record["searched"] == 1000 * kinds.count(0)
    log = (run_dir / "log.txt").read_text()
    assert log.count("failed (raised): RuntimeError: a bad chunk") == kinds.count(1)
    assert log.count("failed (timeout): no result after 2s") == kinds.count(2)
    assert log.count("failed (died): worker exited with code 3") == kinds.count(3)


def test_a_plugin_whose_every_chunk_fails_stops_with_one_line_in_the_log(tmp_path):
    plugin = tmp_path / "faulty.py"
    plugin.write_text(FAULTY)
    run_dir = tmp_path / "run"
    code, _out, err = run_cli("run", f"{plugin}:Faulty", *SMALL, "--set", "mode=all", "--set", "loop.initial=2000",
                             "--rounds", "0", "--run-dir", str(run_dir))
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "every local-search chunk of round 0 failed; the first: raised: RuntimeError: a bad chunk" in err
    assert "stopped by an error: " in (run_dir / "log.txt").read_text()
    assert os.path.exists(run_dir / "run.toml")
