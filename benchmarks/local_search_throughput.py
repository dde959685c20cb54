"""Complete random greedy C4-free local searches per second, per core: numba bitset kernels vs plain numpy.

Two starts: the empty graph (greedy fill only) and G(n, 1/2) (repair, then greedy fill).
Both implementations are run side by side; their final edge counts should have the same distribution.

    .venv/bin/python benchmarks/local_search_throughput.py --n 33
"""
import argparse
import os
import platform
import random
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the numpy baseline runs on one core

import numba
import numpy as np

from local_search import c4, graphs

# ---------------------------------------------------------------- numpy baseline (adjacency matrices)


def np_cube(A):
    return A @ A @ A  # float64 matrices: BLAS, exact for these small integer counts


def np_allowed(A):
    """Upper-triangle mask of non-edges (u, v) joined by no path u-a-b-v.

    For a non-edge, every walk u-x-y-v of length 3 is a path (x = v or y = u would need u ~ v), so the
    test is just (A^3)[u, v] == 0, valid for any graph.
    """
    return np.triu((A == 0) & (np_cube(A) == 0), 1)


def np_c4_per_edge(A):
    """4-cycles through each edge: walks u-x-y-v minus the degenerate ones (x = v or y = u: deg u + deg v - 1)."""
    deg = A.sum(axis=1)
    return (np_cube(A) - deg[:, None] - deg[None, :] + 1) * A


def np_pick(mask, rng):
    """A uniformly random (u, v) among the True entries of mask, or None."""
    idx = np.flatnonzero(mask)
    return None if idx.size == 0 else divmod(int(idx[rng.integers(idx.size)]), mask.shape[0])


def np_greedy_add(A, rng):
    """Add uniformly random allowed edges, re-testing every pair through A^3 after each addition."""
    while (uv := np_pick(np_allowed(A), rng)) is not None:
        A[uv] = A[uv[::-1]] = 1
    return A


def np_repair(A, rng):
    """Delete the edge in most 4-cycles (ties at random), recomputing all counts, until C4-free."""
    while True:
        counts = np_c4_per_edge(A)
        best = counts.max()
        if best <= 0:
            return A
        uv = np_pick(np.triu(counts == best, 1), rng)
        A[uv] = A[uv[::-1]] = 0


def np_local_search(A, rng):
    return np_greedy_add(np_repair(A, rng), rng)


def bits_to_matrix(rows, n):
    return ((rows[:, None] >> np.arange(n, dtype=np.uint64)) & np.uint64(1)).astype(np.float64)


# ---------------------------------------------------------------- plain-Python checks


def brute_force_check(n=9, trials=300):
    """The A^3 formulas above agree with enumerating paths u-a-b-v over distinct vertices."""
    rng = random.Random(0)
    for _ in range(trials):
        p = rng.random()
        adj = [set() for _ in range(n)]
        for u in range(n):
            for v in range(u + 1, n):
                if rng.random() < p:
                    adj[u].add(v)
                    adj[v].add(u)
        A = np.zeros((n, n))
        for u in range(n):
            A[u, list(adj[u])] = 1
        allowed, counts = np_allowed(A), np_c4_per_edge(A)
        for u in range(n):
            for v in range(u + 1, n):
                paths = sum(1 for a in adj[u] - {v} for b in adj[a] & adj[v] - {u})  # u-a-b-v, all distinct
                if v in adj[u]:
                    assert counts[u, v] == paths, (u, v)
                else:
                    assert allowed[u, v] == (paths == 0), (u, v)


def assert_c4_free_and_maximal(rows):
    """Plain Python on bitset rows: no two vertices share two neighbours; every non-edge would close a C4."""
    r = [int(x) for x in rows]
    n = len(r)
    for u in range(n):
        for v in range(u + 1, n):
            assert (r[u] & r[v]).bit_count() <= 1, "contains a C4"
            if not (r[u] >> v) & 1:
                assert any(r[a] & r[v] & ~(1 << u) for a in range(n) if (r[u] >> a) & 1), "not maximal"


# ---------------------------------------------------------------- runs


def make_seeds(s, size):
    return np.random.default_rng(s).integers(1, 2**63, size=size, dtype=np.uint64)


def start_graphs(n, dense, size, s):
    """Empty graphs, or G(n, 1/2) drawn from their own seeds (independent of the search seeds)."""
    if not dense:
        return np.zeros((size, n), dtype=np.uint64)
    return graphs.random_graph_batch(n, 0.5, make_seeds(s + 1000, size))


def run_numba(n, dense, size, threads, s):
    numba.set_num_threads(threads)
    start, seeds = start_graphs(n, dense, size, s), make_seeds(s, size)
    t = time.perf_counter()
    out = c4.local_search_batch(start, seeds, 0, 1)
    rate = size / (time.perf_counter() - t)
    return out, rate


def run_numpy(n, dense, size, s):
    starts = [bits_to_matrix(g, n) for g in start_graphs(n, dense, size, s)]
    rng = np.random.default_rng(s)
    t = time.perf_counter()
    out = [np_local_search(A, rng) for A in starts]
    rate = size / (time.perf_counter() - t)
    return np.array([A.sum() / 2 for A in out], dtype=np.int64), rate


def summary(x):
    return f"mean {x.mean():7.3f}  std {x.std(ddof=1):6.3f}  max {x.max():3d}  (N={x.size})"


def compare(name, a, b):
    """Numba vs numpy edge counts: summaries, z-score of the means, histogram side by side."""
    z = (a.mean() - b.mean()) / np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    print(f"\n[{name}] final edge counts")
    print(f"  numba: {summary(a)}")
    print(f"  numpy: {summary(b)}")
    print(f"  z-score of the difference of means: {z:+.2f}  ({'OK' if abs(z) < 4 else 'MISMATCH'}, |z| < 4)")
    print("  edges   numba %   numpy %")
    for e in range(min(a.min(), b.min()), max(a.max(), b.max()) + 1):
        print(f"  {e:5d}  {100 * np.mean(a == e):8.2f}  {100 * np.mean(b == e):8.2f}")
    return z


def machine_info():
    cpu = platform.processor()
    if not cpu and os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    return (f"cpu: {cpu or '?'} | os.cpu_count(): {os.cpu_count()} | numba threads: {numba.get_num_threads()} "
            f"| numba {numba.__version__}, numpy {np.__version__}, python {platform.python_version()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=33, help="vertices")
    ap.add_argument("--numba-searches", type=int, default=100_000, help="numba searches per start and thread count")
    ap.add_argument("--numpy-searches", type=int, default=1000, help="numpy searches per start")
    ap.add_argument("--check", type=int, default=500, help="numba outputs per start checked in plain Python")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    n, all_threads = args.n, numba.get_num_threads()
    print(machine_info())
    print(f"n = {args.n}; numba: {args.numba_searches} searches per run, numpy: {args.numpy_searches}")

    brute_force_check()
    c4.local_search_batch(start_graphs(n, True, 8, 0), make_seeds(0, 8), 0, 1)  # compile / load the cache
    graphs.edge_count_batch(np.zeros((1, n), dtype=np.uint64))

    rates, z = {}, {}
    for dense, name in ((False, "empty start"), (True, "dense repair")):
        one, rates["numba", 1, dense] = run_numba(n, dense, args.numba_searches, 1, args.seed)
        many, rates["numba", all_threads, dense] = run_numba(n, dense, args.numba_searches, all_threads, args.seed)
        assert np.array_equal(one, many), "numba results depend on the thread count"
        for rows in one[: args.check]:
            assert_c4_free_and_maximal(rows)
        numpy_edges, rates["numpy", dense] = run_numpy(n, dense, args.numpy_searches, args.seed)
        z[dense] = compare(name, graphs.edge_count_batch(one), numpy_edges)
    print(f"\nplain-Python check: {min(args.check, args.numba_searches)} numba outputs per start are C4-free "
          "and maximal; outputs identical on 1 and all threads")

    print(f"\n{'method':<32}{'empty start /s':>16}{'dense repair /s':>17}")
    rows = [("numba, 1 thread (per core)", rates["numba", 1, False], rates["numba", 1, True]),
            (f"numba, {all_threads} threads (total)", rates["numba", all_threads, False],
             rates["numba", all_threads, True]),
            (f"numba, {all_threads} threads (per thread)", rates["numba", all_threads, False] / all_threads,
             rates["numba", all_threads, True] / all_threads),
            ("numpy, 1 core", rates["numpy", False], rates["numpy", True])]
    for label, empty, dense in rows:
        print(f"{label:<32}{empty:>16,.1f}{dense:>17,.1f}")
    ratio = [rates["numba", 1, d] / rates["numpy", d] for d in (False, True)]
    print(f"{'ratio numba/numpy (per core)':<32}{ratio[0]:>15,.0f}x{ratio[1]:>16,.0f}x")
    print(f"\ntargets: numba >= 25,000/s per core from empty: {rates['numba', 1, False]:,.0f} "
          f"({'met' if rates['numba', 1, False] >= 25_000 else 'NOT met'}); "
          f">= 200x numpy: {ratio[0]:,.0f}x ({'met' if ratio[0] >= 200 else 'NOT met'})")
    print(f"distributions: z = {z[False]:+.2f} (empty), {z[True]:+.2f} (dense)")


if __name__ == "__main__":
    main()
