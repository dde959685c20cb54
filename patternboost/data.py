"""Training-data regimes for input -> output tasks: batch sources that are pure functions of (seed, step).

A task supplies generate(count, seed) -> rows (a numpy array, one example per entry of the first axis, otherwise
opaque) and, for priming, generate_long(count, seed) -> rows of the same shape and dtype.

Regimes (the Int2Int line, REFERENCE.md "Math tasks"):
  fresh    unlimited data: each step's batch is generated anew, from a seed derived from (seed, step);
  budget   `budget` distinct examples, generated once and reused uniformly: epoch e visits them in a permutation
           seeded by (seed, e), a batch is the next slice (across epoch boundaries), so at any step every example
           has been seen equally often, to within one;
  two_set  a repeated set S of `repeated_size` examples, generated once; each example of a batch is drawn from S
           (uniformly) with probability `repeated_prob`, else it is fresh, the two kinds mixed inside each batch.
Priming adds `primers` long examples, generated once. In budget and two_set they join the finite set (the budget
set, or S). In fresh, each example of a batch is a primer (uniform among them) with probability `primer_prob`:
priming works by repeating a few long examples, and unlimited data has no epoch to set their rate, so it is stated.

All randomness is counter-based (SeedSequence([seed, stream, index])), so a resumed run needs only the step; the
finite set is generated lazily, on first use, and regenerates identically. For the same reason the fresh examples
of the coming steps can be generated ahead, in worker processes (Prefetcher), without changing any batch.
"""
import concurrent.futures
import dataclasses
import functools
import multiprocessing
import numbers

import numpy as np

from patternboost.errors import UserError

REGIMES = ("fresh", "budget", "two_set")
STREAMS = {"set": 0, "primers": 1, "epoch": 2, "fresh": 3, "mix": 4}  # independent random streams
CHUNK = 100_000  # the finite set is generated in chunks of this many examples, each with its own seed


class DataError(UserError, ValueError):
    """A bad data configuration or task output (a ValueError; the CLI prints it as one line, like any UserError)."""


def fail(message):
    raise DataError(message)


@dataclasses.dataclass
class DataConfig:
    regime: str = "fresh"  # fresh | budget | two_set
    budget: int = 0  # budget: distinct examples, reused uniformly
    repeated_size: int = 0  # two_set: |S|
    repeated_prob: float = 0.25  # two_set: chance an example is drawn from S (Int2Int default)
    primers: int = 0  # long examples from generate_long(), for priming
    primer_prob: float = 0.0  # fresh with primers: chance an example is a primer
    workers: int = -1  # processes generating fresh data ahead of training; -1 = auto (0 on CPU, up to 8 on GPU)
    found_share: float = 0.25  # discovery: chance a batch row is a verified find (times finds / batch_size, at most 1)

    def __post_init__(self):
        self.validate()

    def validate(self):
        if self.regime not in REGIMES:
            fail(f"data.regime must be fresh, budget or two_set, got {self.regime!r}")
        if not isinstance(self.workers, numbers.Integral) or self.workers < -1:
            fail(f"data.workers must be -1 (auto), 0 or a number of processes, got {self.workers!r}")
        for name in ("budget", "repeated_size", "primers"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
                fail(f"data.{name} must be a non-negative integer, got {value!r}")
        for name in ("repeated_prob", "primer_prob", "found_share"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0 <= value <= 1:
                fail(f"data.{name} must be a probability in [0, 1], got {value!r}")
        self.validate_regime()

    def validate_regime(self):
        if self.regime == "budget" and self.budget < 1:
            fail("data.budget must be at least 1 in the budget regime (an empty budget has no examples)")
        if self.regime == "two_set" and self.repeated_size < 1:
            fail("data.repeated_size must be at least 1 in the two_set regime (S cannot be empty)")
        if self.regime != "budget" and self.budget:
            fail(f"data.budget applies to the budget regime only, but data.regime is {self.regime!r}")
        if self.regime != "two_set" and self.repeated_size:
            fail(f"data.repeated_size applies to the two_set regime only, but data.regime is {self.regime!r}")
        if self.regime == "fresh" and self.primers and not self.primer_prob:
            fail("data.primers in the fresh regime needs data.primer_prob > 0 (the chance an example is a primer)")
        if self.primer_prob and (self.regime != "fresh" or not self.primers):
            fail("data.primer_prob applies to the fresh regime with primers only (elsewhere primers join the set)")

    @property
    def set_size(self):
        """Examples in the finite set, primers included (the primers alone in fresh)."""
        return {"budget": self.budget, "two_set": self.repeated_size}.get(self.regime, 0) + self.primers


def seed_sequence(seed, stream, index=0):
    return np.random.SeedSequence([seed, STREAMS[stream], index])


def derive(seed, stream, index=0):
    """A 63-bit seed for the task's generators, like loop.stage_seed."""
    return int(seed_sequence(seed, stream, index).generate_state(1, np.uint64)[0] >> 1)


def check_rows(rows, count, what, like=None):
    """`count` examples in a numpy array; with `like`, of its example shape and dtype."""
    if not isinstance(rows, np.ndarray) or rows.ndim == 0:
        fail(f"{what} must return a numpy array, got {type(rows).__name__}")
    if len(rows) != count:
        fail(f"{what} returned {len(rows)} examples, expected {count}")
    if like is not None and (rows.shape[1:] != like.shape[1:] or rows.dtype != like.dtype):
        fail(f"{what} returned examples of shape {rows.shape[1:]} and dtype {rows.dtype}, "
             f"expected shape {like.shape[1:]} and dtype {like.dtype}")
    return rows


def make_source(task, config, batch_size, seed, finite_set=None):
    """The batch source for `config` over `task`: source(step) -> rows, `batch_size` examples per step.
    `finite_set`: the budget set or S, generated beforehand (by a family that generates it in parallel and keeps
    it in its checkpoint), instead of lazily here."""
    source = DataSource(task, config, batch_size, seed)
    if finite_set is not None:
        source.finite_set = check_rows(finite_set, config.set_size, "the generated set")
    return source


class DataSource:
    """source(step) -> the batch of that step; the same for any call order, so resuming needs only the step."""

    def __init__(self, task, config, batch_size, seed):
        config.validate()
        if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            fail(f"batch size must be a positive integer, got {batch_size!r}")
        if not isinstance(seed, numbers.Integral) or seed < 0:
            fail(f"data seed must be a non-negative integer, got {seed!r}")
        if config.primers and getattr(task, "generate_long", None) is None:
            fail(f"data.primers = {config.primers} needs a task with generate_long(count, seed)")
        self.task, self.config, self.batch_size, self.seed = task, config, int(batch_size), int(seed)
        self._perms = {}  # epoch -> permutation, the last two epochs only

    @functools.cached_property
    def finite_set(self):
        """The budget set or S, then the primers (only the primers in fresh); generated on first use."""
        size, parts = self.config.set_size - self.config.primers, []
        for chunk, start in enumerate(range(0, size, CHUNK)):
            count = min(CHUNK, size - start)
            rows = self.task.generate(count, derive(self.seed, "set", chunk))
            parts.append(check_rows(rows, count, "generate()", parts[0] if parts else None))
        if self.config.primers:
            rows = self.task.generate_long(self.config.primers, derive(self.seed, "primers"))
            parts.append(check_rows(rows, self.config.primers, "generate_long()", parts[0] if parts else None))
        return np.concatenate(parts) if parts else None

    def __call__(self, step, fresh=None):
        """The batch of `step`; `fresh`: its fresh examples, already generated (by a Prefetcher)."""
        if not isinstance(step, numbers.Integral) or step < 0:
            fail(f"step must be a non-negative integer, got {step!r}")
        if self.config.regime == "budget":
            return self.finite_set[self.order(int(step))]
        return self.mixed(int(step), fresh)

    def order(self, step):
        """budget: indices into finite_set of batch `step`, consecutive positions in the epochs' permutations."""
        positions = np.arange(step * self.batch_size, (step + 1) * self.batch_size, dtype=np.int64)
        epochs, offsets = np.divmod(positions, self.config.set_size)
        index = np.empty_like(positions)
        for epoch in np.unique(epochs):
            here = epochs == epoch
            index[here] = self.permutation(int(epoch))[offsets[here]]
        return index

    def permutation(self, epoch):
        if epoch not in self._perms:
            if len(self._perms) >= 2:
                self._perms.pop(next(iter(self._perms)))  # the oldest
            self._perms[epoch] = np.random.default_rng(seed_sequence(self.seed, "epoch", epoch)).permutation(
                self.config.set_size)
        return self._perms[epoch]

    @property
    def repeat_prob(self):
        """The chance an example of a batch is drawn from the finite set (two_set, or fresh with primers)."""
        return self.config.repeated_prob if self.config.regime == "two_set" else self.config.primer_prob

    def draws(self, step):
        """two_set / fresh: which examples of batch `step` come from the finite set, and which members."""
        if not self.repeat_prob:
            return np.zeros(self.batch_size, dtype=bool), None
        rng = np.random.default_rng(seed_sequence(self.seed, "mix", step))
        drawn = rng.random(self.batch_size) < self.repeat_prob
        return drawn, rng.integers(0, self.config.set_size, size=int(drawn.sum()))

    def fresh_count(self, step):
        """How many fresh examples batch `step` holds."""
        return 0 if self.config.regime == "budget" else self.batch_size - int(self.draws(step)[0].sum())

    def fresh_seed(self, step):
        return derive(self.seed, "fresh", step)

    def fresh(self, step, count):
        return self.task.generate(count, self.fresh_seed(step))

    def mixed(self, step, fresh=None):
        """two_set / fresh: each example is drawn from the finite set with probability repeat_prob, else fresh."""
        drawn, picks = self.draws(step)
        count = self.batch_size - int(drawn.sum())
        if count and fresh is None:
            fresh = self.fresh(step, count)
        if count == self.batch_size:
            return check_rows(fresh, count, "generate()")
        repeated = self.finite_set[picks]
        if not count:
            return repeated
        rows = np.empty((self.batch_size, *repeated.shape[1:]), dtype=repeated.dtype)
        rows[drawn] = repeated
        rows[~drawn] = check_rows(fresh, count, "generate()", repeated)
        return rows

    def stats(self, step):
        """What batches 0 .. step-1 held, from the step alone: exact in budget, expectations where draws are random.

        fresh: freshly generated examples; repeated: draws from the finite set; distinct: distinct examples seen
        (fresh draws count as distinct); repetitions: mean draws per finite-set example (min / max in budget).
        """
        examples, size = step * self.batch_size, self.config.set_size
        stats = {"regime": self.config.regime, "step": step, "examples": examples, "set_size": size,
                 "primers": self.config.primers}
        if self.config.regime == "budget":
            full, extra = divmod(examples, size)
            return stats | {"fresh": 0, "repeated": examples, "distinct": min(examples, size),
                            "repetitions": examples / size, "repetitions_min": full,
                            "repetitions_max": full + (extra > 0), "exact": True}
        prob = self.repeat_prob
        repeated = examples * prob
        # each example hits a given set member with probability prob / size, independently
        seen = float(-size * np.expm1(examples * np.log1p(-prob / size))) if size else 0.0
        return stats | {"fresh": examples - repeated, "repeated": repeated, "distinct": examples - repeated + seen,
                        "repetitions": repeated / size if size else 0.0, "repetitions_min": None,
                        "repetitions_max": None, "exact": not prob}


_worker_task = None  # the task of a Prefetcher's worker process


def _start_worker(make_task):
    global _worker_task
    _worker_task = make_task()


def _generate(count, seed):
    return _worker_task.generate(count, seed)


class Prefetcher:
    """source(step) with the fresh examples of the next `depth` steps generated ahead in `workers` processes.

    Batches are the same as the source's own: a step's fresh examples come from the same seed, whoever generates
    them. Workers build their own task with make_task() (a picklable factory), so a task need not be picklable;
    they start by spawning, which is safe in a process that already runs torch threads."""

    def __init__(self, source, make_task, workers, depth=None):
        self.source, self.depth, self.pending = source, depth or 2 * workers, {}
        self.pool = concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
            initargs=(make_task,))

    def __call__(self, step):
        for stale in [s for s in self.pending if not step <= s < step + self.depth]:
            future = self.pending.pop(stale)
            if future:
                future.cancel()
        for ahead in range(step, step + self.depth):
            if ahead not in self.pending:
                count = self.source.fresh_count(ahead)  # 0 in budget: nothing to generate
                self.pending[ahead] = count and self.pool.submit(_generate, count, self.source.fresh_seed(ahead))
        future = self.pending.pop(step)
        return self.source(step, fresh=future.result() if future else None)

    def stats(self, step):
        return self.source.stats(step)

    def close(self):
        self.pool.shutdown(wait=False, cancel_futures=True)
