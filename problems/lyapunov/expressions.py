"""Expressions as tokens for the transformer, and the parser of what users type.

Prefix notation (Lample & Charton, "Deep learning for symbolic mathematics"; Alfarano, Charton, Hayat): the tree of
a sympy expression written operator first. Sympy's own trees are written as they are, so that decoding rebuilds
the same expression exactly (see canonical below):

    add mul pow          binary; sympy's n-ary Add and Mul become right chains: x0 + x1 + x2 -> add x0 add x1 x2
    exp log sqrt sin cos tan atan abs
                         unary; sqrt is Pow(a, 1/2), abs is what sqrt(x0**2) becomes for real x0
    x0 .. x5  E  pi      leaves
    + 1 234              an integer: sign, then base-1000 digits ('0' .. '999'); 1234 -> + 1 234, -7 -> - 7
    rat + 3 + 4          a rational p/q (q > 0): two integers
    |                    separates the equations of a system

Sympy has no subtraction, division or negation: x0 - x1 is Add(x0, Mul(-1, x1)) -> add x0 mul - 1 x1, and x0/x1 is
Mul(x0, Pow(x1, -1)) -> mul x0 pow x1 - 1. Hence no sub, div or neg tokens, and encode has one spelling for each
expression. Decoding evaluates with sympy (x0 + x0 is 2*x0), and refuses what is undefined or not real (log(0)).

    encode(expr, max_length=None) -> tokens         decode(tokens) -> expr
    encode_system(exprs, max_length=None) -> tokens decode_system(tokens) -> tuple of exprs
    VOCABULARY, to_ids(tokens), from_ids(ids)
    canonical(expr) -> expr                         decode(encode(e)) == canonical(e), which is e but for rare
                                                    sympy results such as Abs(Abs(x0)): pass data through it

The parser reads systems as a control theorist types them ("x' = -x + y; y' = -y^3 - x") without eval'ing text:
a character whitelist, a check of every name, then sympy's parse_expr over an explicit namespace.

    parse_system(text) -> tuple of exprs            to_text(system) -> text
    parse_function(text, n) -> expr                 function_text(V) -> text
"""
import re

import numpy as np
import sympy
from sympy.parsing import sympy_parser
from sympy.printing.str import StrPrinter

from patternboost.encodings import IntegerEncoding, Vocabulary
from problems.lyapunov import MAX_VARIABLES, variables

VARIABLES = variables(MAX_VARIABLES)
SEPARATOR = "|"
INTEGERS = IntegerEncoding(1000)
NARY = {"add": sympy.Add, "mul": sympy.Mul}
FUNCTIONS = {"exp": sympy.exp, "log": sympy.log, "sqrt": sympy.sqrt, "sin": sympy.sin, "cos": sympy.cos,
             "tan": sympy.tan, "atan": sympy.atan, "abs": sympy.Abs}
CONSTANTS = {"E": sympy.E, "pi": sympy.pi}
VOCABULARY = [*NARY, "pow", "rat", *FUNCTIONS, *CONSTANTS, *(str(v) for v in VARIABLES), SEPARATOR,
              *INTEGERS.symbols()]

# Numbers that decode or parse to these are no real function of x: 1/0, log(0), sqrt(-1), 0*log(0).
UNDEFINED = (sympy.zoo, sympy.nan, sympy.oo, -sympy.oo, sympy.I)
# Powers of numbers are computed at once: refuse results over ~30,000 digits rather than hang on 999**999999.
MAX_POWER_BITS = 100_000

_VOCAB = Vocabulary(VOCABULARY)
_VARIABLE_TOKENS = {v: str(v) for v in VARIABLES}
_VARIABLE_OF = {str(v): v for v in VARIABLES}
_FUNCTION_TOKENS = {f: name for name, f in FUNCTIONS.items() if name != "sqrt"}  # sqrt is a Pow in sympy
_CONSTANT_TOKENS = {c: name for name, c in CONSTANTS.items()}


class ExpressionTooLong(ValueError):
    """An expression or system whose token count is over the caller's max_length."""


# --- encoding -----------------------------------------------------------------------------------------------------


def encode(expr, max_length=None):
    """The prefix tokens of a sympy expression in x0 .. x5 (the symbols of `variables`); ValueError if it has none."""
    tokens = []
    _write(sympy.sympify(expr, strict=True), tokens)
    _check_length(tokens, max_length, "expression")
    return tokens


def encode_system(exprs, max_length=None):
    """The equations' tokens joined by the separator '|'."""
    exprs = list(exprs)
    if not exprs:
        raise ValueError("a system has at least one equation")
    tokens = encode(exprs[0])
    for expr in exprs[1:]:
        tokens += [SEPARATOR, *encode(expr)]
    _check_length(tokens, max_length, "system")
    return tokens


def _check_length(tokens, max_length, what):
    if max_length is not None and len(tokens) > max_length:
        raise ExpressionTooLong(f"{what} is {len(tokens)} tokens long, over the limit of {max_length}")


def _write(expr, out):
    if expr.is_Symbol:
        if expr not in _VARIABLE_TOKENS:
            raise ValueError(f"cannot encode symbol {expr!r}: only the real symbols x0 .. x5 of variables() are tokens")
        out.append(_VARIABLE_TOKENS[expr])
    elif expr.is_Integer:
        out += INTEGERS.encode(int(expr))
    elif expr.is_Rational:
        out += ["rat", *INTEGERS.encode(expr.p), *INTEGERS.encode(expr.q)]
    elif expr in _CONSTANT_TOKENS:
        out.append(_CONSTANT_TOKENS[expr])
    elif expr.is_Add or expr.is_Mul:
        # A loop, not recursion, over the terms: a long polynomial stays one stack frame deep.
        op = "add" if expr.is_Add else "mul"
        for arg in expr.args[:-1]:
            out.append(op)
            _write(arg, out)
        _write(expr.args[-1], out)
    elif expr.is_Pow and expr.exp == sympy.S.Half:
        out.append("sqrt")
        _write(expr.base, out)
    elif expr.is_Pow:
        out.append("pow")
        _write(expr.base, out)
        _write(expr.exp, out)
    elif type(expr) in _FUNCTION_TOKENS:
        out.append(_FUNCTION_TOKENS[type(expr)])
        _write(expr.args[0], out)
    elif expr.is_Float:
        raise ValueError(f"cannot encode the float {expr}: use integers or sympy.Rational")
    else:
        raise ValueError(f"cannot encode {expr} ({type(expr).__name__}): no token for it")


# --- decoding -----------------------------------------------------------------------------------------------------


def decode(tokens):
    """The expression written by `tokens`: exactly one, nothing left over; ValueError saying why otherwise."""
    tokens = list(tokens)
    expr, pos = _read_checked(tokens, 0)
    if pos != len(tokens):
        raise ValueError(f"trailing tokens after a complete expression, from position {pos}: {tokens[pos]!r} ...")
    return expr


def decode_system(tokens):
    """The equations written by `tokens`, separated by '|'."""
    tokens, exprs, pos = list(tokens), [], 0
    while True:
        expr, pos = _read_checked(tokens, pos)
        exprs.append(expr)
        if pos == len(tokens):
            return tuple(exprs)
        if tokens[pos] != SEPARATOR:
            raise ValueError(f"expected '{SEPARATOR}' or the end after equation {len(exprs)} at position {pos}, "
                             f"got {tokens[pos]!r}")
        pos += 1


def _read_checked(tokens, pos):
    start = pos
    try:
        expr, pos = _read(tokens, pos)
    except RecursionError:
        raise ValueError(f"expression from position {start} is nested too deeply") from None
    _check_defined(expr, f"tokens from position {start}")
    return expr, pos


def _read(tokens, pos):
    """(expression starting at tokens[pos], position after it)."""
    if pos >= len(tokens):
        raise ValueError(f"missing operand: the tokens end at position {pos}")
    token = tokens[pos]
    if token in NARY:
        # Gather the whole right chain "add a add b c" into one Add(a, b, c), as sympy stores it.
        args = []
        while pos < len(tokens) and tokens[pos] == token:
            arg, pos = _read(tokens, pos + 1)
            args.append(arg)
        last, pos = _read(tokens, pos)
        return NARY[token](*args, last), pos
    if token == "pow":
        base, pos = _read(tokens, pos + 1)
        exponent, pos = _read(tokens, pos)
        return _power(base, exponent), pos
    if token in FUNCTIONS:
        arg, pos = _read(tokens, pos + 1)
        return FUNCTIONS[token](arg), pos
    if token == "rat":
        p, used = INTEGERS.decode(tokens, pos + 1)
        q, used_q = INTEGERS.decode(tokens, pos + 1 + used)
        if q == 0:
            raise ValueError(f"rational at position {pos} has denominator 0")
        return sympy.Rational(p, q), pos + 1 + used + used_q
    if token in ("+", "-"):
        value, used = INTEGERS.decode(tokens, pos)
        return sympy.Integer(value), pos + used
    if token in _VARIABLE_OF:
        return _VARIABLE_OF[token], pos + 1
    if token in CONSTANTS:
        return CONSTANTS[token], pos + 1
    if token == SEPARATOR:
        raise ValueError(f"expected an expression at position {pos}, got the separator '{SEPARATOR}'")
    if token in _VOCAB:
        raise ValueError(f"digit {token!r} at position {pos} does not follow a sign '+' or '-'")
    raise ValueError(f"unknown token {token!r} at position {pos}")


def _power(base, exponent):
    """sympy.Pow(base, exponent), refusing powers whose numbers would be too large to compute (ValueError).

    Sympy computes the numbers at once: (2*x0)**n is 2**n*x0**n. Symbolic powers such as x0**(10**9) pass."""
    if exponent.is_Rational and abs(exponent) > 1:
        bits = sum(max(abs(r.p), r.q).bit_length() for r in base.atoms(sympy.Rational))
        if bits * abs(exponent) > MAX_POWER_BITS:
            raise ValueError(f"the power ({base})**({exponent}) is too large to compute")
    return sympy.Pow(base, exponent)


def _check_defined(expr, where):
    if expr.has(*UNDEFINED):
        raise ValueError(f"{where}: {sympy.sstr(expr)} is undefined or not real")


# --- token ids ----------------------------------------------------------------------------------------------------


def to_ids(tokens):
    """Token strings -> ids 0 .. len(VOCABULARY) - 1 (int64); ValueError for a token not in VOCABULARY."""
    return np.array(_VOCAB.to_ids(tokens), dtype=np.int64)


def from_ids(ids):
    """Ids -> token strings; ValueError for an id out of range."""
    return _VOCAB.to_symbols(np.asarray(ids).tolist())


# --- the parser of what users type --------------------------------------------------------------------------------

MAX_TEXT = 10_000
# Right-hand sides: no quotes, brackets, commas, colons or underscores, so no strings, indexing, lambdas or dunders.
_ALLOWED = re.compile(r"[A-Za-z0-9\s+\-*/^().]*")
_NUMBER_DOTS = re.compile(r"(?<![A-Za-z0-9.])(?:\d*\.\d+|\d+\.)")  # 0.5 yes, x0.real no
_NAME = re.compile(r"\b[A-Za-z][A-Za-z0-9]*")
_LEFT = re.compile(r"\s*([A-Za-z][A-Za-z0-9]*)\s*'\s*")
_INDEXED = re.compile(r"x(\d+)")
_NAMES = {**FUNCTIONS, "ln": sympy.log, "arctan": sympy.atan, "Abs": sympy.Abs, **CONSTANTS}
# parse_expr's generated code calls these; "__builtins__": {} keeps Python's builtins out of its namespace.
_GLOBALS = {"Integer": sympy.Integer, "Float": sympy.Float, "Rational": sympy.Rational, "Add": sympy.Add,
            "Mul": sympy.Mul, "Pow": sympy.Pow}
_TRANSFORMATIONS = (sympy_parser.auto_number, sympy_parser.rationalize, sympy_parser.convert_xor)


def parse_system(text):
    """x' = f(x) as typed: equations split by ';' or newlines, each 'f' or "x0' = f" or "x' = f" (letters map to
    x0, x1, ... in the order of the left-hand sides). ValueError, one line, for anything else."""
    equations = [eq.strip() for eq in re.split(r"[;\n]", _checked_text(text)) if eq.strip()]
    if not equations:
        raise ValueError("no equations in the text")
    if len(equations) > MAX_VARIABLES:
        raise ValueError(f"{len(equations)} equations: at most {MAX_VARIABLES} are supported")
    sides = [eq.split("=", 1) if "=" in eq else [None, eq] for eq in equations]
    names, order = _variable_names([left for left, _ in sides])
    system = [None] * len(equations)
    for k, (i, (_, right)) in enumerate(zip(order, sides)):
        where = f"equation {k + 1}"  # counted in the text, which may list x1' before x0'
        system[i] = _parse_expression(right, names, where)
        _check_equilibrium(system[i], where)
    return tuple(system)


def parse_function(text, n):
    """A candidate V in x0 .. x{n-1}, as typed ("x0**2 + x1^2", or "V = ..."); ValueError, one line, if it is not."""
    names = {str(v): v for v in variables(n)}
    text = re.sub(r"^\s*V\s*=", "", _checked_text(text))
    return _parse_expression(text, names, "V")


def to_text(system):
    """The system as parse_system reads it back: "x0' = f0; x1' = f1"."""
    return "; ".join(f"x{i}' = {function_text(f)}" for i, f in enumerate(system))


def function_text(V):
    """V as parse_function reads it back: sympy's str(), but for -(...) in products."""
    return _Printer().doprint(V)


class _Printer(StrPrinter):
    def _print_Mul(self, expr):
        # Python reads sstr's -(x0 + 1)*y, which is Mul(-1, x0 + 1, y), as (-(x0 + 1))*y, and sympy distributes
        # that -1 before the parser sees it: -1*(x0 + 1)*y keeps the factors together.
        text = super()._print_Mul(expr)
        return "-1*" + text[1:] if text.startswith("-(") else text


def _checked_text(text):
    if not isinstance(text, str):
        raise TypeError(f"expected text, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise ValueError(f"the text is {len(text)} characters long, over the limit of {MAX_TEXT}")
    return text


def _variable_names(lefts):
    """(name -> variable, index of each equation) from the left-hand sides (None where an equation has none)."""
    n = len(lefts)
    if all(left is None for left in lefts):
        return {f"x{i}": v for i, v in enumerate(variables(n))}, range(n)
    if any(left is None for left in lefts):
        raise ValueError("either every equation has a left-hand side (x0' = ...) or none does")
    names = []
    for left in lefts:
        match = _LEFT.fullmatch(left)
        if match is None:
            raise ValueError(f"left-hand side {left.strip()!r} is not a derivative like x0' or x'")
        names.append(match.group(1))
    expected = [f"x{i}" for i in range(n)]
    if all(_INDEXED.fullmatch(name) for name in names):
        if sorted(names) != sorted(expected):
            raise ValueError(f"left-hand sides {', '.join(names)}: a {n}-equation system needs "
                             f"{', '.join(expected)}, each once")
        return {name: v for name, v in zip(expected, variables(n))}, [int(name[1:]) for name in names]
    if all(len(name) == 1 for name in names):
        if len(set(names)) != n:
            raise ValueError(f"left-hand sides {', '.join(names)}: each variable needs its own equation")
        if "E" in names:
            raise ValueError("E is Euler's number, not a variable name")
        return dict(zip(names, variables(n))), range(n)
    raise ValueError(f"left-hand sides {', '.join(names)}: write x0' .. x{n - 1}' or single letters (x', y', ...)")


def _parse_expression(text, names, where):
    """One right-hand side in the variables `names` (name -> symbol), checked before and after parse_expr."""
    if not text.strip():
        raise ValueError(f"{where} is empty")
    if not _ALLOWED.fullmatch(text):
        bad = next(c for c in text if not _ALLOWED.fullmatch(c))
        raise ValueError(f"{where}: character {bad!r} is not allowed (use numbers, variables, functions, "
                         f"+ - * / ^ ** and parentheses)")
    if "." in _NUMBER_DOTS.sub("", text):
        raise ValueError(f"{where}: '.' is only allowed in numbers such as 0.5")
    for name in _NAME.findall(text):
        if name not in names and name not in _NAMES:
            raise ValueError(f"{where}: {_unknown(name, names)}")
    try:
        tree = sympy_parser.parse_expr(text, local_dict={**_NAMES, **names}, global_dict=dict(_GLOBALS, __builtins__={}),
                                       transformations=_TRANSFORMATIONS, evaluate=False)
        if not isinstance(tree, sympy.Expr):  # e.g. a bare function name: "sin"
            raise TypeError("not an expression")
        expr = canonical(tree)
    except ValueError as error:  # ours (a power too large) or sympy's: the message says why
        raise ValueError(f"{where}: {error}") from None
    except Exception as error:  # noqa: BLE001 - SyntaxError, TokenError, TypeError (sin + 1) ...: all "no parse"
        raise ValueError(f"{where}: cannot parse {text.strip()!r} ({type(error).__name__})") from None
    _check_defined(expr, where)
    return expr


def _unknown(name, names):
    variable_list = ", ".join(names)
    index = _INDEXED.fullmatch(name)
    if index and all(_INDEXED.fullmatch(known) for known in names):
        return f"{name} is not a variable: {len(names)} equations have the variables {variable_list}"
    return f"unknown name {name!r}: the variables are {variable_list}, the functions {', '.join(FUNCTIONS)}"


def canonical(expr):
    """`expr` rebuilt bottom-up by sympy's evaluation: the form decode() returns, and a fixed point of it.

    Sympy's arithmetic leaves a few results (about 1 in 1000 random trees) that evaluation would still change,
    such as Abs(Abs(x0)) or 8*2**(1/4)*sqrt(2); decode(encode(e)) is canonical(e), so it is e exactly when e is
    canonical. Also evaluates parse trees, checking numeric powers before computing them.
    """
    if not expr.args:
        return expr
    if expr.is_Pow:
        exponent = canonical(expr.exp)
        if expr.base.is_Mul and exponent.is_Integer:
            # What sympy does to an evaluated Mul; evaluating the base first would distribute 2*(x0 + x1) in
            # 1/(2*(x0 + x1)), and so read sstr's text of Mul(1/2, 1/(x0 + x1)) back as 1/(2*x0 + 2*x1).
            return sympy.Mul(*(_power(canonical(factor), exponent) for factor in expr.base.args))
        return _power(canonical(expr.base), exponent)
    return expr.func(*(canonical(arg) for arg in expr.args))


def _check_equilibrium(f, where):
    value = f.subs({v: 0 for v in VARIABLES})
    if value != 0 and sympy.simplify(value) != 0:
        raise ValueError(f"{where} is {sympy.sstr(value)} at x = 0, not 0: the origin must be an equilibrium")
