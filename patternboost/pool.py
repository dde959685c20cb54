"""The elite pool: the top-K objects by score, one per canonical key."""
import numpy as np


class ElitePool:
    def __init__(self, size):
        self.size = size
        self.objects = None
        self.scores = np.empty(0)
        self.keys = np.empty(0, dtype=np.uint64)
        self.rounds = np.empty(0, dtype=np.int64)  # the round each elite was found in

    def __len__(self):
        return len(self.scores)

    def merge(self, objects, scores, keys, round_):
        """Add objects; keep the best `size` with distinct keys. Returns how many new keys entered.

        Ties keep the elite that came first, so the pool depends only on the order of arrivals.
        """
        old_keys = set(self.keys.tolist())
        objects = objects if self.objects is None else np.concatenate([self.objects, objects])
        scores = np.concatenate([self.scores, scores])
        keys = np.concatenate([self.keys, keys])
        rounds = np.concatenate([self.rounds, np.full(len(keys) - len(self.rounds), round_)])
        order = np.lexsort((np.arange(len(scores)), -scores))
        _, first = np.unique(keys[order], return_index=True)
        keep = order[np.sort(first)][: self.size]
        self.objects, self.scores, self.keys, self.rounds = objects[keep], scores[keep], keys[keep], rounds[keep]
        return sum(k not in old_keys for k in self.keys.tolist())

    def state_dict(self):
        return {"size": self.size, "objects": self.objects, "scores": self.scores,
                "keys": self.keys, "rounds": self.rounds}

    def load_state_dict(self, state):
        self.size = state["size"]
        self.objects, self.scores = state["objects"], state["scores"]
        self.keys, self.rounds = state["keys"], state["rounds"]
