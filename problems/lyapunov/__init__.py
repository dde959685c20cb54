"""Lyapunov function discovery (Alfarano, Charton, Hayat, arXiv 2410.08304): systems x' = f(x) with an
equilibrium at 0, and functions V that prove its stability.

A system is a tuple of sympy expressions f_0 .. f_{n-1} in the variables x0 .. x{n-1} (`variables(n)`); a
candidate Lyapunov function V is one sympy expression in the same variables.

    expressions   prefix-notation tokens of expressions and systems, and the parser of what users type
    generate      backward generation of (system, V) pairs, random polynomial systems
    verify        the verifier: SOS certificates checked exactly (polynomial V), or a numerical check
    sos           the SOS baseline: search for V over quadratic and quartic templates
"""
import sympy

MAX_VARIABLES = 6


def variables(n):
    """The symbols x0 .. x{n-1} (real), shared by every module here."""
    if not 1 <= n <= MAX_VARIABLES:
        raise ValueError(f"systems have 1 .. {MAX_VARIABLES} variables, got {n}")
    return tuple(sympy.Symbol(f"x{i}", real=True) for i in range(n))
