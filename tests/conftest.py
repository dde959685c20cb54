import os
import subprocess
import sys

import pytest

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
