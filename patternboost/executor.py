"""Executors: run work that is slow, parallel or fallible, one chunk at a time.

`executor.map(fn, chunks, seeds, timeout)` calls `fn(chunk, seed)` for each chunk and returns one Outcome per chunk,
in chunk order, or None when `stop()` became true first (the caller redoes the whole map after a resume). A chunk can fail in three ways, and each is reported instead of raised, so one bad chunk never takes
down a run:

- "raised":  fn raised an Exception ("ValueError: bad chunk");
- "timeout": the chunk ran longer than the timeout, so its worker was killed and replaced;
- "died":    the worker process exited under it (os._exit, a segfault, the OOM killer).

The unit of work is a plain picklable call, fn(chunk, seed), so every executor runs the same calls: inline, process
or Ray (patternboost/ray_executor.py, an optional extra). The executor only passes (chunk, seed) through: a result
never depends on which executor ran it or on its number of workers.

InlineExecutor runs in this process and cannot enforce timeouts (there is nothing to kill but ourselves);
ProcessExecutor runs spawned worker processes through pebble, which can.
"""
import concurrent.futures
import dataclasses
import multiprocessing
import os
import signal
from concurrent.futures.process import BrokenProcessPool

import pebble

from patternboost.errors import UserError

KINDS = ("inline", "process", "ray")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
USER_THREADS = {name: os.environ.get(name) for name in THREAD_VARIABLES}  # as the user started us


@dataclasses.dataclass
class ExecutorConfig:
    kind: str = "inline"  # inline | process | ray
    workers: int = 0  # process, ray: worker processes; 0 = one per core (ray: per CPU of the cluster)
    timeout: float = 0.0  # process, ray: seconds one chunk may take before its worker is killed; 0 = no limit
    address: str = ""  # ray: "" starts a local cluster; auto = the one `ray start` runs here; or HOST:PORT
    retries: int = 2  # ray: times a chunk whose worker died is tried again on a fresh worker

    def validate(self):
        if self.kind not in KINDS:
            raise UserError(f"executor.kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.workers < 0:
            raise UserError(f"executor.workers must be >= 0 (0 = one per core), got {self.workers}")
        if self.timeout < 0:
            raise UserError(f"executor.timeout must be >= 0 seconds (0 = no limit), got {self.timeout}")
        if self.retries < 0:
            raise UserError(f"executor.retries must be >= 0, got {self.retries}")
        if self.address and self.kind != "ray":
            raise UserError(f"executor.address is for executor.kind=ray, not {self.kind}")


@dataclasses.dataclass
class Outcome:
    value: object = None  # fn's return value when ok
    failure: str | None = None  # None when ok, else "raised" | "timeout" | "died"
    detail: str = ""  # one line saying what went wrong

    @property
    def ok(self):
        return self.failure is None


def _describe(error):
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _run(fn, chunk, seed):
    """Call fn; an Exception becomes Outcome(failure="raised"). KeyboardInterrupt and friends propagate."""
    try:
        return Outcome(value=fn(chunk, seed))
    except Exception as error:  # noqa: BLE001 - a failing chunk is reported, not fatal
        return Outcome(failure="raised", detail=_describe(error))


def _run_in_worker(fn, chunk, seed):
    """_run, but also catching SystemExit: a worker has no Ctrl-C to honour (pebble ignores SIGINT there).

    Failures travel back as strings, never as exceptions: an exception class that cannot be unpickled here
    would otherwise break the whole pebble pool.
    """
    try:
        return _run(fn, chunk, seed)
    except BaseException as error:  # noqa: BLE001 - see above
        return Outcome(failure="raised", detail=_describe(error))


class InlineExecutor:
    """Today's behaviour: everything in this process (numba kernels use all cores by themselves).

    The timeout is accepted for a uniform interface but not enforced: a chunk that hangs hangs the caller.
    KeyboardInterrupt and other BaseExceptions propagate.
    """

    workers = 1

    def map(self, fn, chunks, seeds, timeout=0.0, stop=None, progress=None):
        chunks, seeds = list(chunks), list(seeds)
        assert len(chunks) == len(seeds), "one seed per chunk"
        outcomes = []
        for chunk, seed in zip(chunks, seeds):
            if stop is not None and stop():
                return None
            outcomes.append(_run(fn, chunk, seed))
            if progress is not None:
                progress(len(outcomes), len(chunks))
        return outcomes

    def close(self):
        pass


def _init_worker(threads):
    # W workers each running parallel numba kernels would otherwise start W * cores threads.
    import numba

    numba.set_num_threads(max(1, min(numba.config.NUMBA_NUM_THREADS, threads)))


def _exit_detail(code):
    if code is not None and code < 0:
        try:
            return f"worker exited with code {code} ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return f"worker exited with code {code}"


class ProcessExecutor:
    """Spawned worker processes (a pebble.ProcessPool), started on the first map and reused until close().

    pebble does not notice a worker that exits with code 0 in the middle of a chunk (os._exit(0)): only a timeout
    ends that chunk, so without one it would wait forever.
    """

    def __init__(self, workers, timeout=0.0, cores=None):
        """cores: what the workers share (default all; fewer when this process trains beside them)."""
        self.workers = workers
        self.timeout = timeout
        self.threads = max(1, (cores or os.cpu_count() or 1) // workers)  # per worker
        self._pool = None

    def _ensure_pool(self):
        if self._pool is not None and not self._pool.active:  # broken (a result that cannot be unpickled here)
            self.close()
        if self._pool is None:
            # BLAS and OpenMP read their thread counts when a worker imports numpy: spawned workers inherit these.
            # W workers with a thread per core each oversubscribe the cores (measured: 2 workers verifying
            # Lyapunov candidates ran 5x slower than 1); a user's own setting is kept.
            for name in THREAD_VARIABLES:
                if USER_THREADS[name] is None:
                    os.environ[name] = str(self.threads)
            self._pool = pebble.ProcessPool(max_workers=self.workers, context=multiprocessing.get_context("spawn"),
                                            initializer=_init_worker, initargs=(self.threads,))
        return self._pool

    def map(self, fn, chunks, seeds, timeout=None, stop=None, progress=None):
        """One Outcome per chunk, in chunk order, or None if stop() became true (checked as chunks finish, and
        every second). timeout: None = the executor's own; 0 = no limit.

        pebble counts a chunk's timeout from when a worker starts it, not from when it was queued.
        """
        chunks, seeds = list(chunks), list(seeds)
        assert len(chunks) == len(seeds), "one seed per chunk"
        timeout = self.timeout if timeout is None else timeout
        pool = self._ensure_pool()
        futures = [pool.schedule(_run_in_worker, args=(fn, chunk, seed), timeout=timeout or None)
                   for chunk, seed in zip(chunks, seeds)]
        index = {future: i for i, future in enumerate(futures)}
        outcomes = [None] * len(futures)
        try:
            pending, done = set(futures), 0
            while pending:
                if stop is not None and stop():
                    for future in futures:
                        future.cancel()
                    return None
                finished, pending = concurrent.futures.wait(pending, timeout=1.0,
                                                            return_when=concurrent.futures.FIRST_COMPLETED)
                for future in finished:
                    done += 1
                    outcomes[index[future]] = self._outcome(future, timeout)
                    if progress is not None:
                        progress(done, len(futures))
        except BaseException:
            for future in futures:  # Ctrl-C: kill what is running, drop what is queued
                future.cancel()
            raise
        return outcomes

    @staticmethod
    def _outcome(future, timeout):
        try:
            return future.result()
        except TimeoutError:  # the worker catches fn's own exceptions, so this one is pebble's
            return Outcome(failure="timeout", detail=f"no result after {timeout:g}s")
        except pebble.ProcessExpired as error:
            return Outcome(failure="died", detail=_exit_detail(error.exitcode))
        except BrokenProcessPool as error:  # the next map starts a fresh pool
            return Outcome(failure="died", detail=_describe(error))
        except Exception as error:  # noqa: BLE001 - e.g. a chunk that cannot be pickled
            return Outcome(failure="raised", detail=_describe(error))

    def close(self):
        if self._pool is not None:
            self._pool.stop()
            self._pool.join()
            self._pool = None


def make_executor(config: ExecutorConfig, cores=None):
    """cores: the cores worker processes (or a local Ray cluster) share (default all)."""
    config.validate()
    if config.kind == "inline":
        return InlineExecutor()
    if config.kind == "ray":
        from patternboost.ray_executor import RayExecutor

        return RayExecutor(config.address, config.workers, config.timeout, config.retries, cores)
    return ProcessExecutor(config.workers or os.cpu_count() or 1, config.timeout, cores)
