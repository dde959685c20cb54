"""The constructions family: elites that the independent check contradicts leave the pool, and the best is
always a verified one."""
import numpy as np

from patternboost.config import EngineConfig
from patternboost.families.constructions import Constructions
from tests.test_problem import Bits


class Liar(Bits):
    """Claims 6 for objects whose first bit is 0, which verify() (the true count of ones) contradicts."""

    def score(self, batch):
        return np.where(batch[:, 0] == 0, 6.0, batch.sum(axis=1))

    def verify(self, obj):
        return float(obj.sum())


def test_contradicted_elites_leave_the_pool_and_never_become_best():
    family = Constructions(Liar(), EngineConfig(), 0, "liar")
    objects = np.array([[0, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0]],
                       dtype=np.uint8)
    scores = family.problem.score(objects)
    family.pool.merge(objects, scores, family.problem.canonical_key(objects), 0)
    family.tally.update(searched=4, score_sum=float(scores.sum()), round_best=6.0)
    metrics = family.close_round(0)
    assert metrics["rejected_elites"] == 1 and len(family.pool) == 3
    assert family.pool.verified.all() and not (family.pool.objects[:, 0] == 0).any()
    assert family.best()["score"] == 6 and family.best()["object"].sum() == 6
