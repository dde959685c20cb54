"""The elite pool: the top-K objects by score, one per canonical key."""
import numpy as np


class ElitePool:
    def __init__(self, size):
        self.size = size
        self.objects = None
        self.scores = np.empty(0)
        self.keys = np.empty(0, dtype=np.uint64)
        self.rounds = np.empty(0, dtype=np.int64)  # the round each elite was found in
        self.verified = np.empty(0, dtype=bool)  # passed the problem's independent check

    def __len__(self):
        return len(self.scores)

    def merge(self, objects, scores, keys, round_):
        """Add objects; keep the best `size` with distinct keys. Returns how many new keys entered.

        Ties keep the elite that came first, so the pool depends only on the order of arrivals (and merging
        chunk by chunk gives the pool that merging them all at once would).
        """
        old_keys = set(self.keys.tolist())
        objects = objects if self.objects is None else np.concatenate([self.objects, objects])
        scores = np.concatenate([self.scores, scores])
        keys = np.concatenate([self.keys, keys])
        added = len(keys) - len(self.rounds)
        rounds = np.concatenate([self.rounds, np.full(added, round_)])
        verified = np.concatenate([self.verified, np.zeros(added, dtype=bool)])
        order = np.lexsort((np.arange(len(scores)), -scores))
        _, first = np.unique(keys[order], return_index=True)
        self._take(objects, scores, keys, rounds, verified, order[np.sort(first)][: self.size])
        return sum(k not in old_keys for k in self.keys.tolist())

    def keep(self, mask):
        """Keep only the elites where `mask` is true (the order stays)."""
        self._take(self.objects, self.scores, self.keys, self.rounds, self.verified, np.flatnonzero(mask))

    def _take(self, objects, scores, keys, rounds, verified, index):
        self.objects, self.scores, self.keys = objects[index], scores[index], keys[index]
        self.rounds, self.verified = rounds[index], verified[index]

    def state_dict(self):
        return {"size": self.size, "objects": self.objects, "scores": self.scores,
                "keys": self.keys, "rounds": self.rounds, "verified": self.verified}

    def load_state_dict(self, state):
        self.size = state["size"]
        self.objects, self.scores = state["objects"], state["scores"]
        self.keys, self.rounds = state["keys"], state["rounds"]
        # Pools of checkpoints written before verification was kept were checked as best candidates only.
        self.verified = state.get("verified", np.zeros(len(self.scores), dtype=bool))
