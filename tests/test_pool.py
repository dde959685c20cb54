import numpy as np

from patternboost.pool import ElitePool


def test_keeps_top_unique_and_reports_new():
    pool = ElitePool(3)
    objs = np.arange(5)[:, None]
    assert pool.merge(objs, np.array([1.0, 5, 5, 3, 2]), np.array([10, 11, 11, 12, 13], dtype=np.uint64), 0) == 3
    assert pool.scores.tolist() == [5, 3, 2] and pool.keys.tolist() == [11, 12, 13]
    assert pool.objects[:, 0].tolist() == [1, 3, 4]  # the first of two equal keys stays
    new = pool.merge(np.array([[7], [8]]), np.array([4.0, 5.0]), np.array([14, 11], dtype=np.uint64), 1)
    assert new == 1 and pool.scores.tolist() == [5, 4, 3] and pool.rounds.tolist() == [0, 1, 0]


def test_state_round_trip():
    pool = ElitePool(4)
    pool.merge(np.ones((2, 3)), np.array([1.0, 2.0]), np.array([1, 2], dtype=np.uint64), 0)
    other = ElitePool(1)
    other.load_state_dict(pool.state_dict())
    assert other.size == 4 and np.array_equal(other.scores, pool.scores)
