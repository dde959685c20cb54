"""Training-data regimes: resumable batch sources (fresh, budget, two-set, priming)."""
import collections

import numpy as np
import pytest

from patternboost import data
from patternboost.data import DataConfig, make_source


class Task:
    """Rows (kind, seed, index) name each example: kind 0 = normal, 1 = long. Counts generator calls."""

    def __init__(self, long=True):
        self.calls = collections.Counter()
        if not long:
            self.generate_long = None

    def rows(self, kind, count, seed):
        self.calls[kind] += 1
        return np.stack([np.full(count, kind), np.full(count, seed), np.arange(count)], axis=1).astype(np.int64)

    def generate(self, count, seed):
        return self.rows(0, count, seed)

    def generate_long(self, count, seed):
        return self.rows(1, count, seed)


def keys(rows):
    return [tuple(row) for row in rows.tolist()]


CONFIGS = [DataConfig(), DataConfig(regime="budget", budget=50), DataConfig(regime="two_set", repeated_size=20),
           DataConfig(regime="fresh", primers=3, primer_prob=0.2),
           DataConfig(regime="budget", budget=30, primers=4), DataConfig(regime="two_set", repeated_size=9, primers=2)]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.regime}-{c.primers}")
def test_any_call_order_gives_the_same_batches(config):
    steps = list(range(12)) + [1000]
    forward = {s: make_source(Task(), config, 16, seed=7)(s) for s in steps}
    source = make_source(Task(), config, 16, seed=7)  # a "resumed" source, called in another order
    for s in reversed(steps):
        assert np.array_equal(source(s), forward[s])
        assert source(s).shape == (16, 3)
    other = make_source(Task(), config, 16, seed=8)
    assert not all(np.array_equal(other(s), forward[s]) for s in steps)


def test_fresh_batches_are_new_every_step():
    task = Task()
    source = make_source(task, DataConfig(), 32, seed=1)
    seen = [k for s in range(20) for k in keys(source(s))]
    assert len(set(seen)) == len(seen) == 20 * 32
    assert task.calls[0] == 20 and source.finite_set is None
    assert source.stats(20) | {"exact": True} == source.stats(20)
    assert source.stats(20)["distinct"] == 640


@pytest.mark.parametrize("budget,batch", [(50, 15), (3, 7), (40, 8)])
def test_budget_visits_every_example_equally(budget, batch):
    source = make_source(Task(), DataConfig(regime="budget", budget=budget), batch, seed=3)
    members = set(keys(source.finite_set))
    assert len(members) == budget
    counts, order = collections.Counter(), []
    steps = 3 * int(np.lcm(budget, batch)) // batch  # whole epochs in whole steps
    for step in range(steps):
        rows = keys(source(step))
        order += rows
        counts.update(rows)
        values = [counts[m] for m in members]
        assert max(values) - min(values) <= 1  # equally often, to within one, at every step
        stats = source.stats(step + 1)
        assert (stats["repetitions_min"], stats["repetitions_max"]) == (min(values), max(values))
        assert stats["distinct"] == sum(v > 0 for v in values)
    assert set(counts) == members and set(counts.values()) == {steps * batch // budget}
    for start in range(0, len(order), budget):  # every epoch, across batch boundaries, is a permutation
        assert sorted(order[start:start + budget]) == sorted(members)
    assert order[:budget] != order[budget:2 * budget]  # epochs are reshuffled


def test_budget_batch_across_an_epoch_boundary():
    source = make_source(Task(), DataConfig(regime="budget", budget=50), 15, seed=3)
    rows = source.finite_set
    expected = np.concatenate([rows[source.permutation(0)[45:]], rows[source.permutation(1)[:10]]])
    assert np.array_equal(source(3), expected)


def test_two_set_mixes_repeated_and_fresh():
    task, p, size, batch, steps = Task(), 0.25, 20, 64, 200
    source = make_source(task, DataConfig(regime="two_set", repeated_size=size, repeated_prob=p), batch, seed=5)
    repeated_set = set(keys(source.finite_set))
    assert len(repeated_set) == size
    assert keys(make_source(Task(), source.config, batch, seed=5).finite_set) == keys(source.finite_set)
    repeated, fresh, mixed = collections.Counter(), [], 0
    for step in range(steps):
        rows = keys(source(step))
        hits = [r for r in rows if r in repeated_set]
        repeated.update(hits)
        fresh += [r for r in rows if r not in repeated_set]
        mixed += 0 < len(hits) < batch
    share = sum(repeated.values()) / (steps * batch)
    assert abs(share - p) < 0.02  # sd ~ 0.004
    assert len(set(fresh)) == len(fresh)  # fresh examples never repeat, nor come from S
    assert set(repeated) == repeated_set  # uniform over S: every member drawn (~160 times each)
    assert max(repeated.values()) < 2.5 * min(repeated.values())
    assert mixed == steps
    assert task.calls[0] == 1 + steps  # S once (lazily, one chunk), then the fresh rows of each step
    stats = source.stats(steps)
    assert abs(stats["repeated"] - sum(repeated.values())) < 0.02 * steps * batch and not stats["exact"]
    assert stats["distinct"] == pytest.approx(len(fresh) + size, rel=0.02)


def test_two_set_extreme_probabilities():
    always = make_source(Task(), DataConfig(regime="two_set", repeated_size=5, repeated_prob=1.0), 30, seed=2)
    assert set(keys(always(0))) <= set(keys(always.finite_set))
    never_task = Task()
    never = make_source(never_task, DataConfig(regime="two_set", repeated_size=5, repeated_prob=0.0), 30, seed=2)
    assert np.all(never(0)[:, 1] == never(0)[0, 1]) and never_task.calls[0] == 2  # no S generated
    assert never.stats(10)["exact"] and never.stats(10)["repeated"] == 0


def test_finite_set_is_lazy_chunked_and_deterministic(monkeypatch):
    monkeypatch.setattr(data, "CHUNK", 7)
    task = Task()
    source = make_source(task, DataConfig(regime="budget", budget=30), 8, seed=4)
    assert task.calls[0] == 0  # nothing generated before the first batch
    for step in range(5):
        source(step)
    assert task.calls[0] == 5  # 30 examples in chunks of 7, once
    assert len(set(keys(source.finite_set))) == 30
    again = make_source(Task(), DataConfig(regime="budget", budget=30), 8, seed=4)
    assert np.array_equal(again(4), source(4))


def test_priming_in_budget_and_two_set_joins_the_set():
    budget = make_source(Task(), DataConfig(regime="budget", budget=30, primers=5), 7, seed=1)
    epoch = np.concatenate([budget(s) for s in range(5)])  # 35 = one epoch
    assert sorted(keys(epoch)) == sorted(keys(budget.finite_set))
    assert (epoch[:, 0] == 1).sum() == 5 and budget.stats(5)["set_size"] == 35
    two = make_source(Task(), DataConfig(regime="two_set", repeated_size=15, primers=5, repeated_prob=0.5), 64, seed=1)
    rows = np.concatenate([two(s) for s in range(100)])
    assert set(keys(rows[rows[:, 0] == 1])) == set(keys(two.finite_set[15:]))
    assert abs((rows[:, 0] == 1).mean() - 0.5 * 5 / 20) < 0.03  # p * k / (|S| + k)


def test_priming_in_fresh_mixes_fixed_primers():
    task = Task()
    source = make_source(task, DataConfig(primers=4, primer_prob=0.1), 50, seed=9)
    rows = np.concatenate([source(s) for s in range(100)])
    primers = rows[rows[:, 0] == 1]
    assert abs(len(primers) / len(rows) - 0.1) < 0.025
    assert set(keys(primers)) == set(keys(source.finite_set)) and len(source.finite_set) == 4
    assert task.calls[1] == 1  # the primers are generated once
    assert source.stats(100)["repeated"] == pytest.approx(500)


@pytest.mark.parametrize("kwargs,message", [
    ({"regime": "epochs"}, "data.regime must be fresh, budget or two_set"),
    ({"regime": "budget"}, "empty budget"),
    ({"regime": "budget", "budget": -3}, "data.budget must be a non-negative integer"),
    ({"regime": "two_set"}, "data.repeated_size must be at least 1"),
    ({"regime": "two_set", "repeated_size": 5, "repeated_prob": 1.5}, "data.repeated_prob must be a probability"),
    ({"regime": "two_set", "repeated_size": 5, "repeated_prob": float("nan")}, "must be a probability"),
    ({"regime": "fresh", "budget": 10}, "data.budget applies to the budget regime only"),
    ({"regime": "budget", "budget": 10, "repeated_size": 3}, "data.repeated_size applies to the two_set regime"),
    ({"primers": 3}, "needs data.primer_prob > 0"),
    ({"primer_prob": 0.1}, "data.primer_prob applies to the fresh regime with primers only"),
    ({"primers": 2.5}, "data.primers must be a non-negative integer"),
])
def test_bad_configs_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message) as error:
        DataConfig(**kwargs)
    assert "\n" not in str(error.value)


def test_bad_sources_and_task_outputs_raise():
    config = DataConfig(regime="budget", budget=10, primers=2)
    with pytest.raises(ValueError, match="needs a task with generate_long"):
        make_source(Task(long=False), config, 4, seed=0)
    with pytest.raises(ValueError, match="batch size must be a positive integer"):
        make_source(Task(), DataConfig(), 0, seed=0)
    with pytest.raises(ValueError, match="step must be a non-negative integer"):
        make_source(Task(), DataConfig(), 4, seed=0)(-1)
    config.budget = 0  # a config changed after construction is checked again
    with pytest.raises(ValueError, match="empty budget"):
        make_source(Task(), config, 4, seed=0)
    short = Task()
    short.generate = lambda count, seed: np.zeros((count - 1, 3), np.int64)
    with pytest.raises(ValueError, match=r"generate\(\) returned 9 examples, expected 10"):
        make_source(short, DataConfig(regime="budget", budget=10), 4, seed=0)(0)
    wide = Task()
    wide.generate_long = lambda count, seed: np.zeros((count, 5), np.int64)
    with pytest.raises(ValueError, match=r"generate_long\(\) returned examples of shape \(5,\)"):
        make_source(wide, DataConfig(regime="budget", budget=10, primers=2), 4, seed=0)(0)


def test_a_prefetcher_gives_the_source_batches_in_any_order():
    """Fresh examples generated ahead in worker processes change no batch."""
    for config in CONFIGS:
        source = make_source(Task(), config, 16, seed=7)
        prefetched = data.Prefetcher(make_source(Task(), config, 16, seed=7), Task, workers=2)
        try:
            for step in [0, 1, 2, 9, 3, 3]:  # forward, a jump, back: stale work is dropped
                assert keys(prefetched(step)) == keys(source(step))
        finally:
            prefetched.close()
