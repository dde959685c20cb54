import os
import time

import pytest

from patternboost.errors import UserError
from patternboost.executor import ExecutorConfig, InlineExecutor, Outcome, ProcessExecutor, make_executor

RAISE, HANG, DIE = "raise", "hang", "die"


def work(chunk, seed):
    """Module level, so spawned workers can import it; misbehaves on the marker chunks."""
    if chunk == RAISE:
        raise ValueError("bad chunk")
    if chunk == HANG:
        time.sleep(60)
    if chunk == DIE:
        os._exit(3)
    return chunk * 2 + seed


def die_once(folder, seed):
    """Kills its worker the first time it sees a folder (a crash, a lost node), then works."""
    marker = os.path.join(folder, "died")
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(9)
    return seed


@pytest.fixture(scope="module")
def process():
    """Process executors by worker count, shared by the whole module: spawning workers costs about a second."""
    executors = {}

    def get(workers):
        if workers not in executors:
            executors[workers] = ProcessExecutor(workers, timeout=0.0)
        return executors[workers]

    yield get
    for executor in executors.values():
        executor.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_process_matches_inline_in_chunk_order(process, workers):
    chunks, seeds = list(range(7)), [10 * i for i in range(7)]
    inline = InlineExecutor().map(work, chunks, seeds)
    parallel = process(workers).map(work, chunks, seeds)
    assert [o.value for o in parallel] == [o.value for o in inline] == [c * 2 + s for c, s in zip(chunks, seeds)]
    assert all(o.ok for o in parallel + inline)


@pytest.mark.parametrize("marker, failure, detail", [
    (RAISE, "raised", "ValueError: bad chunk"),
    (HANG, "timeout", "no result after 1.5s"),
    (DIE, "died", "worker exited with code 3"),
])
def test_process_failure_is_classified_and_the_pool_keeps_working(process, marker, failure, detail):
    executor = process(2)
    start = time.perf_counter()
    outcomes = executor.map(work, [1, marker, 2, 3], [0, 0, 0, 0], timeout=1.5)
    assert time.perf_counter() - start < 15  # a hang is cut off, not waited out
    assert [(o.failure, o.detail) for o in outcomes][1] == (failure, detail)
    assert not outcomes[1].ok and outcomes[1].value is None
    assert [o.value for o in outcomes if o.ok] == [2, 4, 6]
    assert [o.value for o in executor.map(work, [4, 5], [1, 1])] == [9, 11]  # the next map still works


def test_process_progress_counts_every_chunk(process):
    calls = []
    process(2).map(work, [1, 2, 3], [0, 0, 0], progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_inline_raise_is_classified_and_others_succeed():
    calls = []
    outcomes = InlineExecutor().map(work, [1, RAISE, 2], [5, 5, 5], progress=lambda d, t: calls.append((d, t)))
    assert outcomes == [Outcome(7), Outcome(None, "raised", "ValueError: bad chunk"), Outcome(9)]
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_inline_lets_keyboard_interrupt_through():
    def interrupt(chunk, seed):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        InlineExecutor().map(interrupt, [1], [0])


def test_make_executor_and_close_when_never_started():
    assert isinstance(make_executor(ExecutorConfig()), InlineExecutor)
    executor = make_executor(ExecutorConfig(kind="process", workers=0, timeout=2.0))
    assert isinstance(executor, ProcessExecutor)
    assert executor.workers == os.cpu_count() and executor.timeout == 2.0
    executor.close()  # no pool was ever spawned
    executor.close()


@pytest.mark.parametrize("config, message", [
    (ExecutorConfig(kind="dask"), "executor.kind must be one of inline, process, ray, got 'dask'"),
    (ExecutorConfig(retries=-1), "executor.retries must be >= 0"),
    (ExecutorConfig(kind="process", address="auto"), "executor.address is for executor.kind=ray, not process"),
    (ExecutorConfig(workers=-1), "executor.workers must be >= 0"),
    (ExecutorConfig(timeout=-0.5), "executor.timeout must be >= 0 seconds"),
])
def test_validate_rejects_bad_config(config, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")) as info:
        config.validate()
    assert "\n" not in str(info.value)
    with pytest.raises(UserError):
        make_executor(config)


def thread_setting(chunk, seed):
    return os.environ.get("OMP_NUM_THREADS")


def test_workers_share_the_cores_instead_of_each_taking_them_all():
    from patternboost.executor import USER_THREADS

    executor = ProcessExecutor(2)
    try:
        values = [o.value for o in executor.map(thread_setting, [0, 1], [0, 0])]
    finally:
        executor.close()
    assert values == [USER_THREADS["OMP_NUM_THREADS"] or str(max(1, (os.cpu_count() or 1) // 2))] * 2
