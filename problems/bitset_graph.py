"""What problems on graphs stored as bitset rows share: token encodings, export, pictures, symmetry key.

A graph on n <= 64 vertices is a uint64 array of length n (bit v of row u set iff u ~ v);
a batch is a (B, n) array. A subclass supplies `Params` with at least the fields
`n`, `encoding` (one of ENCODINGS) and `relabel`, plus `edge_bound()`, `local_search`,
`score` and `verify`; everything else comes from `BitsetGraphProblem`.
"""
import itertools

import networkx as nx
import numpy as np

from local_search import graphs
from patternboost import Problem

# edges: one token per edge (pair index), in order; neighbours: for each vertex u, its
# neighbours v > u, rows separated (decode also reads a v < u there, as the edge uv); adjacency: the
# upper-triangle bits row by row (the paper's).
ENCODINGS = ("edges", "neighbours", "adjacency")
EDGE_SLACK = 8  # room above the edge bound for bad samples, which local search then repairs


class BitsetGraphProblem(Problem):
    """Base class for most-edges problems on bitset-row graphs."""

    min_vertices = 2
    graph_kind = "graph"  # what the pictures call the objects, e.g. "C4-free graph"

    def __init__(self, params=None):
        super().__init__(params)
        n = self.params.n
        if not self.min_vertices <= n <= graphs.MAX_VERTICES:
            raise ValueError(f"n must be between {self.min_vertices} and {graphs.MAX_VERTICES} "
                             f"(graphs are 64-bit rows), got {n}")
        if self.params.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}, got {self.params.encoding!r}")
        self.n = n
        self.pairs = np.array([(u, v) for u in range(n) for v in range(u + 1, n)], dtype=np.int64)
        self.row_starts = np.cumsum([0] + [n - 1 - u for u in range(n - 1)])  # pair index of (u, u+1)
        most_edges = self.edge_bound() + EDGE_SLACK
        self.increasing = self.params.encoding in ("edges", "neighbours")  # pair indices, or each row's, in order
        self.separator = n if self.params.encoding == "neighbours" else None  # ends a vertex's row
        if self.params.encoding == "edges":
            self.vocab_size, self.max_length = len(self.pairs), most_edges
        elif self.params.encoding == "neighbours":
            self.vocab_size, self.max_length = n + 1, most_edges + n - 2  # vertices, row separator
        else:
            self.vocab_size, self.max_length = 3, len(self.pairs) + n - 2  # 0, 1, row separator

    def edge_bound(self):
        """Most edges a valid graph on self.n vertices can have (sizes the token sequences)."""
        raise NotImplementedError

    # --- search helpers -------------------------------------------------------

    def initial(self, count, seed):
        return np.zeros((count, self.n), dtype=np.uint64)

    def canonical_key(self, batch):
        return graphs.wl_hash_batch(batch, 3)

    # --- tokens ---------------------------------------------------------------

    def _bits(self, batch):
        """(B, n_pairs) 0/1 matrix of the upper triangle."""
        shifts = self.pairs[:, 1].astype(np.uint64)
        return ((batch[:, self.pairs[:, 0]] >> shifts) & np.uint64(1)).astype(np.int64)

    def relabel(self, batch):
        """Renumber the vertices of each graph by decreasing degree, ties by the degrees of their
        neighbours, so that similar graphs get similar token sequences."""
        matrix = ((batch[:, :, None] >> np.arange(self.n, dtype=np.uint64)) & np.uint64(1)).astype(np.int64)
        degrees = matrix.sum(axis=2)
        second = np.einsum("buv,bv->bu", matrix, degrees)
        order = np.lexsort((-second, -degrees), axis=-1)
        matrix = np.take_along_axis(np.take_along_axis(matrix, order[:, :, None], 1), order[:, None, :], 2)
        return (matrix.astype(np.uint64) << np.arange(self.n, dtype=np.uint64)).sum(axis=2, dtype=np.uint64)

    def encode(self, batch):
        bits = self._bits(self.relabel(batch) if self.params.relabel else batch)
        if self.params.encoding == "edges":
            return [np.flatnonzero(row) for row in bits]
        if self.params.encoding == "neighbours":  # row u: its neighbours v > u, then a separator
            return [np.concatenate([np.append(self.pairs[a:b, 1][row[a:b] == 1], self.n)
                                    for a, b in itertools.pairwise(self.row_starts)])[:-1] for row in bits]
        return [np.concatenate([np.append(row[a:b], 2) for a, b in itertools.pairwise(self.row_starts)])[:-1]
                for row in bits]

    def decode(self, sequences):
        if self.params.encoding == "neighbours":
            return self._decode_neighbours(sequences)
        out = np.zeros((len(sequences), self.n), dtype=np.uint64)
        valid = np.ones(len(sequences), dtype=bool)
        for i, seq in enumerate(sequences):
            seq = np.asarray(seq, dtype=np.int64)
            if self.params.encoding == "edges":
                in_range = (seq >= 0) & (seq < len(self.pairs))
                valid[i] = bool(in_range.all() and np.all(np.diff(seq) > 0))  # a set of edges, in order
                chosen = np.unique(seq[in_range])
            else:
                chosen, valid[i] = self._decode_adjacency(seq)
            u, v = self.pairs[chosen].T
            np.bitwise_or.at(out[i], u, np.uint64(1) << v.astype(np.uint64))
            np.bitwise_or.at(out[i], v, np.uint64(1) << u.astype(np.uint64))
        return out, valid

    def _decode_adjacency(self, seq):
        """Pair indices of the adjacency encoding (rows of 0/1, separated by 2), and whether it was well formed."""
        rows = np.split(seq, np.flatnonzero(seq == 2))
        rows = [r[r != 2] for r in rows]
        well_formed = len(rows) == self.n - 1
        chosen = []
        for u, row in enumerate(rows[: self.n - 1]):
            width = self.n - 1 - u
            well_formed &= len(row) == width and bool(np.all(row < 2))
            chosen.extend(self.row_starts[u] + np.flatnonzero(row[:width] == 1))
        return np.array(chosen, dtype=np.int64), well_formed

    def _decode_neighbours(self, sequences):
        """The neighbours encoding, all sequences at once (a learned round decodes thousands): token t in row u
        is the edge {u, t}, from either end; rows past the (n - 1)-th are ignored. Well formed: n - 1 rows, each
        strictly increasing, no vertex in its own row."""
        n, count = self.n, len(sequences)
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        flat = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences]) if count else np.zeros(0, np.int64)
        owner = np.repeat(np.arange(count), lengths)
        ends = flat == n
        before = np.cumsum(ends) - ends  # separators before each position, over all sequences
        row = before - before[(np.cumsum(lengths) - lengths)[owner]]  # ... within its own sequence
        vertex = ~ends & (flat >= 0) & (flat < n)
        rows_seen = np.bincount(owner, weights=ends, minlength=count)
        same_row = (owner[1:] == owner[:-1]) & (row[1:] == row[:-1]) & ~ends[1:] & ~ends[:-1]
        bad = np.zeros(count, dtype=bool)
        bad[owner[1:][same_row & (flat[1:] <= flat[:-1])]] = True
        bad[owner[~ends & (~vertex | (flat == row))]] = True
        valid = (rows_seen == n - 2) & ~bad
        edge = vertex & (flat != row) & (row < n - 1)
        b, u, v = owner[edge], row[edge], flat[edge]
        out = np.zeros((count, n), dtype=np.uint64)
        np.bitwise_or.at(out, (b, u), np.uint64(1) << v.astype(np.uint64))
        np.bitwise_or.at(out, (b, v), np.uint64(1) << u.astype(np.uint64))
        return out, valid

    # --- reporting ------------------------------------------------------------

    def to_graph(self, obj):
        """The networkx graph of bitset rows, which must be symmetric with no loops and no bits past n (the
        kernels count edges from all 64 bits of every row, so a stray bit must not go unnoticed)."""
        rows = [int(r) for r in obj]
        for u, row in enumerate(rows):
            if row >> self.n or row >> u & 1 or any((rows[v] >> u & 1) != (row >> v & 1) for v in range(self.n)):
                raise ValueError(f"row {u} is not a valid adjacency row (loop, stray bit or asymmetric)")
        g = nx.Graph()
        g.add_nodes_from(range(self.n))
        g.add_edges_from(graphs.to_edges(obj))
        return g

    def to_native(self, obj):
        g = self.to_graph(obj)
        return {"n": self.n, "edges": [list(e) for e in graphs.to_edges(obj)],
                "graph6": nx.to_graph6_bytes(g, header=False).decode().strip()}

    def render(self, obj):
        native = self.to_native(obj)
        rows = ["".join("1" if (int(obj[u]) >> v) & 1 else "." for v in range(self.n)) for u in range(self.n)]
        edges = " ".join(f"{u}-{v}" for u, v in native["edges"])
        degrees = sorted((d for _, d in self.to_graph(obj).degree()), reverse=True)
        return "\n".join([f"edges: {edges}", f"graph6: {native['graph6']}",
                          f"degrees: {degrees}", "adjacency:", *rows])

    def layout(self, g):
        """Vertex positions for draw(); subclasses may show their structure instead of a circle."""
        return nx.circular_layout(g)

    def draw(self, obj, path):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        g = self.to_graph(obj)
        fig, ax = plt.subplots(figsize=(6, 6))
        nx.draw(g, self.layout(g), ax=ax, node_size=120, node_color="tab:blue", edge_color="0.4", width=0.8)
        ax.set_title(f"{self.graph_kind}, n = {self.n}, {g.number_of_edges()} edges")
        fig.savefig(path, dpi=120)
        plt.close(fig)
