"""Graphs on n vertices with no 4-cycle and as many edges as possible: ex(n; C4), OEIS A006855.

The problem of the PatternBoost paper (arXiv 2411.00566): at n = 33 plain local search
tops out at 89 edges and PatternBoost reaches the optimum 96.
"""
import dataclasses
import math

import numpy as np

from local_search import c4, graphs
from patternboost import object_seeds
from problems.bitset_graph import BitsetGraphProblem

# ex(n; C4) for n = 1..40 (exact), then best known lower bounds for n = 41..49.
EX_C4 = [0, 1, 3, 4, 6, 7, 9, 11, 13, 16, 18, 21, 24, 27, 30, 33, 36, 39, 42, 46,
         50, 52, 56, 59, 63, 67, 71, 76, 80, 85, 90, 92, 96, 102, 106, 110, 113, 117, 122, 127,
         132, 137, 142, 148, 154, 157, 163, 168, 174]
EXACT_UP_TO = 40


class C4Free(BitsetGraphProblem):
    """Most edges in an n-vertex graph with no 4-cycle."""

    @dataclasses.dataclass
    class Params:
        n: int = 33
        encoding: str = "edges"  # see problems.bitset_graph.ENCODINGS
        # Iterated-greedy steps after repair + greedy fill (0 = the paper's plain search), each deleting `kick`
        # random edges and refilling. Measured at n = 33 (one 2-core run each): 1,000 steps of 4 edges end at 96
        # in 17% of searches (1 ms each), 100 of 2 in none of 50,000.
        climb: int = 1000
        kick: int = 4
        relabel: bool = False  # encode graphs with vertices renumbered by degree

    name = "c4_free"
    min_vertices = 4
    graph_kind = "C4-free graph"

    def __init__(self, params=None):
        super().__init__(params)
        if self.params.climb < 0 or self.params.kick < 1:
            raise ValueError("climb must be >= 0 and kick >= 1")
        if self.n <= len(EX_C4):
            self.known_best = float(EX_C4[self.n - 1])
            self.known_optimal = self.n <= EXACT_UP_TO

    def edge_bound(self):
        # Reiman's bound on the edges of a C4-free graph.
        return int(self.n / 4 * (1 + math.sqrt(4 * self.n - 3)))

    def local_search(self, batch, seed):
        return c4.local_search_batch(batch, object_seeds(seed, len(batch)), self.params.climb, self.params.kick)

    def score(self, batch):
        # Edges of the repaired graph: a graph with 4-cycles scores what repair leaves.
        repaired = c4.repair_batch(batch, object_seeds(0, len(batch)))
        return graphs.edge_count_batch(repaired).astype(np.float64)

    def verify(self, obj):
        """Independent of the kernels: networkx neighbourhoods, no two vertices share two neighbours."""
        g = self.to_graph(obj)
        neighbours = {v: set(g[v]) for v in g}
        for u in g:
            for v in g:
                if u < v and len(neighbours[u] & neighbours[v]) > 1:
                    raise ValueError(f"vertices {u} and {v} lie on a 4-cycle")
        return float(g.number_of_edges())
