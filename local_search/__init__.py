"""Numba kernels: pure functions on typed numpy arrays, explicit seeds in, arrays out.

Nothing here imports torch, `patternboost` or `problems`.
"""
