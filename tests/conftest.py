import os
import subprocess
import sys

import numpy as np
import pytest

from patternboost import tokens

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A tiny but complete engine configuration: seconds per run on 2 cores.
TINY_ENGINE = ["--set", "loop.initial=300", "--set", "loop.pool_size=40", "--set", "train.steps=6",
               "--set", "train.batch_size=16", "--set", "train.warmup=2", "--set", "sample.count=60",
               "--set", "sample.batch_size=30", "--set", "model.n_layer=1", "--set", "model.n_embd=32",
               "--set", "model.n_head=2", "--target", "1000", "--device", "cpu"]
TINY = ["--set", "n=8", "--set", "climb=5", *TINY_ENGINE]


def run_cli(*args, timeout=300, cwd=ROOT, env=None):
    """The installed CLI in a subprocess: (returncode, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "patternboost.cli", *args], capture_output=True, text=True, check=False,
                          timeout=timeout, cwd=cwd, env=env)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def tiny():
    return list(TINY)


def assert_tokens_round_trip(problem, batch):
    """encode -> decode gives the batch back, flagged well formed, and the sequences fit the model's rows."""
    sequences = problem.encode(batch)
    assert max(len(s) for s in sequences) <= problem.max_length
    assert all(s.min() >= 0 and s.max() < problem.vocab_size for s in sequences)
    decoded, valid = problem.decode(sequences)
    assert valid.all() and np.array_equal(decoded, batch)
    unpacked, framed = tokens.unpack(tokens.pack(sequences, problem.max_length))
    assert framed.all() and all(np.array_equal(a, b) for a, b in zip(unpacked, sequences))
    return sequences
