"""Bit tricks and a tiny counter-free RNG shared by the kernels.

Every kernel carries its own RNG state (a uint64 run through splitmix64) seeded per
object, so results never depend on numba's per-thread RNG or on the thread count.
"""
import numpy as np
from numba import njit

ONE = np.uint64(1)
ZERO = np.uint64(0)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S1 = np.uint64(0x5555555555555555)
_S2 = np.uint64(0x3333333333333333)
_S4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)


@njit(cache=True, inline="always")
def popcount(x):
    # SWAR popcount; LLVM turns this idiom into a single popcnt instruction.
    x = x - ((x >> ONE) & _S1)
    x = (x & _S2) + ((x >> np.uint64(2)) & _S2)
    x = (x + (x >> np.uint64(4))) & _S4
    return np.int64((x * _H01) >> np.uint64(56))


@njit(cache=True, inline="always")
def lowest_bit_index(x):
    """Index of the lowest set bit of a non-zero word."""
    return popcount((x & (~x + ONE)) - ONE)


@njit(cache=True, inline="always")
def nth_set_bit(x, r):
    """Index of the r-th (0-based) set bit of x, counting from the lowest."""
    for _ in range(r):
        x &= x - ONE
    return lowest_bit_index(x)


@njit(cache=True, inline="always")
def splitmix64(state):
    """One step of splitmix64: returns (new_state, 64 random bits)."""
    # A state handed back from numba to Python comes back as a Python int, typed int64 on the next call, and
    # int64 + uint64 is a float in numba: cast, or a kernel driven step by step from Python loses its RNG.
    state = np.uint64(state) + _GOLDEN
    z = state
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return state, z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def randint(state, k):
    """Uniform integer in [0, k) for 0 < k < 2**32: returns (new_state, value)."""
    state, z = splitmix64(state)
    return state, np.int64(((z >> np.uint64(32)) * np.uint64(k)) >> np.uint64(32))
