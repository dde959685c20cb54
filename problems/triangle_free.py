"""Graphs on n vertices with no triangle and as many edges as possible.

Mantel's theorem: the optimum is floor(n^2 / 4), reached only by the complete bipartite
graph with sides floor(n / 2) and ceil(n / 2). It is the toy example of the PatternBoost
paper (arXiv 2411.00566): at n = 20 (optimum 100) plain local search (repair: delete the
edge in most triangles; then add random edges that close no triangle until maximal)
reaches 99 rarely, and one PatternBoost round finds 100 many times. That plain search is
the default here (climb = 0), since the comparison is the point of this problem.
"""
import dataclasses

import networkx as nx
import numpy as np

from local_search import graphs, triangle
from patternboost import object_seeds
from problems.bitset_graph import BitsetGraphProblem


class TriangleFree(BitsetGraphProblem):
    """Most edges in an n-vertex graph with no triangle (optimum n^2/4, Mantel)."""

    @dataclasses.dataclass
    class Params:
        n: int = 20
        encoding: str = "edges"  # see problems.bitset_graph.ENCODINGS
        climb: int = 0  # iterated-greedy steps after repair + greedy fill (0 = the paper's plain search)
        kick: int = 2  # edges deleted per iterated-greedy step
        relabel: bool = False  # encode graphs with vertices renumbered by degree

    name = "triangle_free"
    min_vertices = 3
    graph_kind = "Triangle-free graph"
    known_optimal = True

    def __init__(self, params=None):
        super().__init__(params)
        if self.params.climb < 0 or self.params.kick < 1:
            raise ValueError("climb must be >= 0 and kick >= 1")
        self.known_best = float(self.edge_bound())

    def edge_bound(self):
        return self.n * self.n // 4  # Mantel

    def local_search(self, batch, seed):
        return triangle.local_search_batch(batch, object_seeds(seed, len(batch)), self.params.climb,
                                           self.params.kick)

    def score(self, batch):
        # Edges of the repaired graph: a graph with triangles scores what repair leaves.
        repaired = triangle.repair_batch(batch, object_seeds(0, len(batch)))
        return graphs.edge_count_batch(repaired).astype(np.float64)

    def verify(self, obj):
        """Independent of the kernels: networkx neighbourhoods, no edge has both ends next to one vertex."""
        g = self.to_graph(obj)
        for u, v in g.edges:
            common = set(g[u]) & set(g[v])
            if common:
                raise ValueError(f"vertices {u}, {v}, {min(common)} form a triangle")
        return float(g.number_of_edges())

    def render(self, obj):
        g = self.to_graph(obj)
        if not nx.is_bipartite(g):
            return super().render(obj) + "\nnot bipartite"
        colour = nx.bipartite.color(g)
        left, right = sorted(([v for v in g if colour[v] == side] for side in (0, 1)), key=lambda s: s[:1])
        return super().render(obj) + f"\nbipartite, sides {left} and {right}"

    def layout(self, g):
        # Bipartite graphs (the optimum among them) are clearest as two columns.
        if nx.is_bipartite(g) and g.number_of_edges():
            sides = nx.bipartite.color(g)
            return nx.bipartite_layout(g, [v for v, side in sides.items() if side == 0])
        return nx.circular_layout(g)

