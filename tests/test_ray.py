"""The Ray executor on one local Ray cluster shared by the module (starting one takes seconds): the same outcomes in
chunk order as in-process at any number of workers, failures classified, a dead worker's chunk retried, a plugin
file reaching workers that cannot read it, and a loop ending identical to the in-process one."""
import functools
import os
import shutil
import sys
import time

import numpy as np
import pytest

from patternboost import load_problem
from patternboost.errors import UserError
from patternboost.executor import InlineExecutor
from patternboost.families import PluginRef
from patternboost.families.constructions import search_chunk
from tests.conftest import ROOT, run_cli
from tests.test_executor import DIE, HANG, RAISE, die_once, work
from tests.test_loop import assert_same, make_loop

ray = pytest.importorskip("ray", reason="the ray extra is part of the test install; see pyproject.toml")
pytestmark = pytest.mark.ray

from patternboost.ray_executor import RayExecutor, check_reachable, connect, import_ray


@pytest.fixture(scope="module")
def cluster():
    """cluster(workers, **options): a Ray executor on the module's cluster, the only one holding workers (an idle
    worker still holds its CPU)."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    current = {}

    def get(workers, **options):
        key = (workers, tuple(sorted(options.items())))
        if key not in current:
            for executor in current.values():
                executor.close()
            current.clear()
            current[key] = RayExecutor(workers=workers, **options)
        return current[key]

    yield get
    for executor in current.values():
        executor.close()
    ray.shutdown()


@pytest.mark.parametrize("workers", [1, 2, 8])
def test_ray_matches_inline_in_chunk_order(cluster, workers):
    """8 workers on 2 CPUs: each takes a share of a CPU, as a simulated larger cluster."""
    chunks, seeds = list(range(11)), [10 * i for i in range(11)]
    inline = InlineExecutor().map(work, chunks, seeds)
    calls = []
    remote = cluster(workers).map(work, chunks, seeds, progress=lambda done, total: calls.append((done, total)))
    assert remote == inline and all(o.ok for o in remote)
    assert calls == [(i, 11) for i in range(1, 12)]


@pytest.mark.parametrize("marker, failure, detail", [
    (RAISE, "raised", "ValueError: bad chunk"),
    (HANG, "timeout", "no result after 3s"),
    (DIE, "died", "worker died: "),
])
def test_ray_failure_is_classified_and_the_workers_keep_working(cluster, marker, failure, detail):
    executor = cluster(2, retries=1)
    executor.map(work, [0, 0], [0, 0])  # workers started first: the clock below times the failure alone
    start = time.perf_counter()
    outcomes = executor.map(work, [1, marker, 2, 3], [0, 0, 0, 0], timeout=3)
    assert time.perf_counter() - start < 30  # a hang is cut off, not waited out
    assert outcomes[1].failure == failure and outcomes[1].detail.startswith(detail), outcomes[1]
    assert [o.value for o in outcomes if o.ok] == [2, 4, 6]
    assert [o.value for o in executor.map(work, [4, 5], [1, 1])] == [9, 11]  # the next map still works


def test_a_dead_workers_chunk_is_retried_and_the_run_goes_on(cluster, tmp_path):
    folders = [tmp_path / str(i) for i in range(3)]
    for folder in folders:
        folder.mkdir()
    outcomes = cluster(2).map(die_once, [str(f) for f in folders], [7, 8, 9])
    assert [o.value for o in outcomes] == [7, 8, 9]
    assert all((f / "died").exists() for f in folders)  # each chunk did kill a worker once


def test_stop_returns_none_and_the_next_map_works(cluster):
    executor = cluster(2)
    assert executor.map(work, [HANG, HANG, 1], [0, 0, 0], stop=lambda: True) is None
    assert [o.value for o in executor.map(work, [1, 2], [0, 0])] == [2, 4]


def test_a_plugin_file_reaches_workers_that_cannot_read_it(cluster, tmp_path):
    """The file is gone by the time the workers build the plugin (as on another machine): they build it from the
    text the reference carries, and search exactly as this process does."""
    plugin = tmp_path / "cap_set_copy.py"
    shutil.copy(os.path.join(ROOT, "examples", "cap_set.py"), plugin)
    spec = f"{plugin}:CapSet"
    problem = load_problem(spec, n=3)
    ref = PluginRef(problem, spec)
    objects = problem.initial(20, 5)
    here = search_chunk(ref, objects, 11)
    assert ref.file is not None
    plugin.unlink()
    outcome, = cluster(2).map(functools.partial(search_chunk, ref), [objects], [11])
    assert outcome.ok, outcome
    for mine, theirs in zip(here, outcome.value):
        assert np.array_equal(mine, theirs)


@pytest.mark.parametrize("workers", [2, 8])
def test_a_loop_on_ray_ends_identical_to_in_process(cluster, tmp_path, workers):
    straight = make_loop(str(tmp_path / "inline"))
    assert straight.run_rounds() == "completed round 1"
    cluster(0).close()  # the loop's executor joins the module's cluster; nothing else holds its CPUs
    on_ray = make_loop(str(tmp_path / "ray"), **{"executor.kind": "ray", "executor.workers": workers})
    assert on_ray.run_rounds() == "completed round 1"
    assert_same(straight, on_ray)


def test_missing_extra_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(UserError, match=r"^executor.kind=ray needs Ray: pip install 'patternboost\[ray\]'$"):
        import_ray()


@pytest.mark.parametrize("address, message", [
    ("127.0.0.1:1", "cannot reach the Ray cluster at 127.0.0.1:1: Connection refused"),
    ("nowhere", "executor.address must be auto or HOST:PORT, got 'nowhere'"),
])
def test_unreachable_address_is_one_line_in_seconds(address, message):
    start = time.perf_counter()
    with pytest.raises(UserError, match=f"^{message}$"):
        check_reachable(address)
    assert time.perf_counter() - start < 10


def test_version_mismatch_is_one_line():
    class Cluster:  # what ray.init raises when the cluster runs another Ray
        def is_initialized(self):
            return False

        def init(self, **options):
            raise RuntimeError("Version mismatch: The cluster was started with:\n    Ray: 2.59.0\n")

    with pytest.raises(UserError, match=r"^cannot connect to the Ray cluster at auto: RuntimeError: Version "
                                        r"mismatch: The cluster was started with:$"):
        connect(Cluster(), "auto", 2)


def test_cli_unreachable_cluster_exits_2_with_one_line(tmp_path):
    code, _, err = run_cli("run", "c4_free", "--run-dir", str(tmp_path / "run"), "--set", "executor.kind=ray",
                           "--set", "executor.address=127.0.0.1:1", timeout=120)
    assert code == 2 and err.strip().splitlines() == [
        "patternboost: error: cannot reach the Ray cluster at 127.0.0.1:1: Connection refused"], err
