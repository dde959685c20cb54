"""The Ray executor: the same chunks and seeds as in-process, run by long-lived workers on a Ray cluster.

One actor per worker, each taking one CPU (a share of one when more workers than CPUs are asked for), so a worker
imports the numba kernels and builds the plugin once and keeps them (PluginRef caches it per process). Chunks go to
idle workers as they free up and come back in chunk order, so a seed's results never depend on how many workers ran
them or on arrival order. A chunk whose worker died (a crash, the OOM killer, a lost node) is tried again on a
fresh worker, `retries` times, before it counts as "died"; a chunk past the timeout has its worker killed and
replaced and counts as "timeout"; an exception in fn is "raised" and not retried (it would raise again).

Ray is an optional extra: `pip install 'patternboost[ray]'`.
"""
import collections
import logging
import math
import os
import socket
import time

from patternboost.errors import UserError
from patternboost.executor import Outcome, _describe, _init_worker, _run_in_worker

CONNECT_TIMEOUT = 5.0  # seconds to reach a cluster's address before saying it is unreachable
WAIT_WARNING = 60.0  # seconds without a started worker before saying so

log = logging.getLogger("patternboost")


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError("executor.kind=ray needs Ray: pip install 'patternboost[ray]'") from None
    return ray


def check_reachable(address):
    """Ray retries an unreachable address for a minute or more: fail in seconds with one line instead."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"executor.address must be auto or HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as error:
        raise UserError(f"cannot reach the Ray cluster at {address}: {error.strerror or error}") from None


def connect(ray, address, cpus):
    """Join the cluster at `address` ("auto": the one `ray start` runs on this machine), or with no address start
    a local one of `cpus` CPUs; a process already connected (a test session's cluster) stays on its cluster.
    True when this call started the connection (close() then ends it)."""
    if ray.is_initialized():
        return False
    if address and address != "auto":
        check_reachable(address)
    options = {"include_dashboard": False, "log_to_driver": False}
    try:
        if address:
            ray.init(address=address, logging_level="WARNING", **options)
        else:  # a private cluster for this run: Ray's advice on securing a shared one does not apply
            ray.init(num_cpus=cpus, logging_level="ERROR", **options)
    except Exception as error:  # noqa: BLE001 - ConnectionError, a version mismatch (RuntimeError), ...
        where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
        raise UserError(f"cannot connect to {where}: {_describe(error)}") from None
    return True


class Worker:
    """One long-lived worker process (a Ray actor)."""

    def __init__(self, threads):
        _init_worker(threads)

    def run(self, fn, chunk, seed):
        return _run_in_worker(fn, chunk, seed)


class RayExecutor:
    def __init__(self, address="", workers=0, timeout=0.0, retries=2, cores=None):
        """cores: the CPUs of a local cluster (default all; fewer when this process trains beside it)."""
        self.ray = ray = import_ray()
        self.owns_connection = connect(ray, address, cores or os.cpu_count() or 1)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = workers or cpus
        self.timeout, self.retries = timeout, retries
        share = min(1.0, cpus / self.workers)  # more workers than CPUs (a simulated cluster): each takes a share
        self.actor_class = ray.remote(num_cpus=share)(Worker)
        self.ready = []  # workers that have started, idle between maps
        self.starting = {}  # ready-future -> worker not yet started (the cluster may have no room for it yet)

    def start_worker(self):
        actor = self.actor_class.remote(1)  # numba threads: a worker has (at most) one CPU
        self.starting[actor.__ray_ready__.remote()] = actor

    def replace(self, actor):
        self.ray.kill(actor)
        self.start_worker()

    def map(self, fn, chunks, seeds, timeout=None, stop=None, progress=None):
        """One Outcome per chunk, in chunk order, or None if stop() became true (checked every second).

        Chunks go to workers that have started, as they free up, so a worker the cluster cannot place yet holds
        no chunk back; a chunk's timeout counts from when a worker took it."""
        ray = self.ray
        chunks, seeds = list(chunks), list(seeds)
        assert len(chunks) == len(seeds), "one seed per chunk"
        timeout = self.timeout if timeout is None else timeout
        while len(self.ready) + len(self.starting) < self.workers:
            self.start_worker()
        fn_ref = ray.put(fn)  # shipped once, not with every chunk
        queue, idle = collections.deque(range(len(chunks))), self.ready  # idle workers stay ready between maps
        running, tries, outcomes, done = {}, [0] * len(chunks), [None] * len(chunks), 0
        waiting_since = time.time()

        def finish(i, outcome):
            nonlocal done
            outcomes[i], done = outcome, done + 1
            if progress is not None:
                progress(done, len(chunks))

        try:
            while queue or running:
                if stop is not None and stop():
                    for _, actor, _ in running.values():
                        self.replace(actor)  # its chunk would otherwise hold the worker in the next map
                    running.clear()
                    return None
                while queue and idle:
                    i, actor = queue.popleft(), idle.pop()
                    running[actor.run.remote(fn_ref, chunks[i], seeds[i])] = (i, actor, time.time())
                if not running and time.time() - waiting_since > WAIT_WARNING:
                    log.warning("no Ray worker has started in %.0f s: the cluster has no free CPU for one, or it runs "
                                "with another RAY_AUTH_MODE than this process (docs/scale-out.md)", WAIT_WARNING)
                    waiting_since = math.inf
                try:
                    ready, _ = ray.wait([*running, *self.starting], num_returns=1, timeout=1.0)
                except Exception as error:  # noqa: BLE001 - the head node is gone: the run resumes later
                    raise UserError(f"lost the Ray cluster: {_describe(error)}") from None
                for ref in ready:
                    if ref in self.starting:
                        actor = self.starting.pop(ref)
                        try:
                            ray.get(ref)
                            idle.append(actor)
                        except ray.exceptions.RayActorError:  # could not start: try another
                            self.start_worker()
                        continue
                    i, actor, _ = running.pop(ref)
                    try:
                        finish(i, ray.get(ref))
                        idle.append(actor)
                    except ray.exceptions.RayActorError as error:  # the worker died under the chunk
                        self.replace(actor)
                        tries[i] += 1
                        if tries[i] <= self.retries:
                            log.warning("a Ray worker died under chunk %d (%s): trying it again on a fresh worker",
                                        i, _first_line(error))
                            queue.appendleft(i)
                        else:
                            finish(i, Outcome(failure="died", detail=_first_line(error)))
                    except Exception as error:  # noqa: BLE001 - e.g. a result that cannot be unpickled here
                        idle.append(actor)
                        finish(i, Outcome(failure="raised", detail=_describe(error)))
                now = time.time()
                for ref, (i, actor, started) in list(running.items()):
                    if timeout and now - started > timeout:
                        del running[ref]
                        self.replace(actor)
                        finish(i, Outcome(failure="timeout", detail=f"no result after {timeout:g}s"))
        except BaseException:
            for _, actor, _ in running.values():  # Ctrl-C: stop what is running
                self.replace(actor)
            raise
        return outcomes

    def close(self):
        for actor in [*self.ready, *self.starting.values()]:
            self.ray.kill(actor)
        self.ready, self.starting = [], {}
        if self.owns_connection and self.ray.is_initialized():
            self.ray.shutdown()
            self.owns_connection = False


def _first_line(error):
    lines = str(error).strip().splitlines()
    return f"worker died: {lines[0]}" if lines else "worker died"
