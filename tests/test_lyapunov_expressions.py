"""Prefix tokens of Lyapunov systems and functions (exact round trips, errors) and the parser of typed systems."""
import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from problems.lyapunov import variables
from problems.lyapunov.expressions import (
    FUNCTIONS,
    UNDEFINED,
    VOCABULARY,
    ExpressionTooLong,
    canonical,
    decode,
    decode_system,
    encode,
    encode_system,
    from_ids,
    function_text,
    parse_function,
    parse_system,
    to_ids,
    to_text,
)

X = variables(6)
x0, x1, x2 = X[:3]
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])

# --- random expressions: what the generators make, and more -------------------------------------------------------

integers = st.one_of(st.integers(-30, 30), st.integers(-10**12, 10**12)).map(sympy.Integer)
rationals = st.builds(sympy.Rational, st.integers(-50, 50), st.integers(1, 40))
exponents = st.one_of(st.integers(-4, 4), st.integers(-7, 7).map(lambda k: sympy.Rational(k, 2)))
unary = st.sampled_from([sympy.exp, sympy.log, sympy.sqrt, sympy.sin, sympy.cos, sympy.tan, sympy.atan, sympy.Abs,
                         lambda a: -a])


def _compose(children):
    return st.one_of(
        st.builds(lambda a, b: a + b, children, children),
        st.builds(lambda a, b: a - b, children, children),
        st.builds(lambda a, b: a * b, children, children),
        st.builds(lambda a, b: a / b, children, children),
        st.builds(lambda a, k: a**k, children, exponents),
        st.builds(lambda f, a: f(a), unary, children),
    )


def in_language(expr):
    """Real and made of the tokens' operators: not 1/0 or sqrt(-1), nor cos(sqrt(-2)), which sympy makes cosh(sqrt(2))."""
    kinds = (sympy.Add, sympy.Mul, sympy.Pow, sympy.Symbol, sympy.Rational, type(sympy.E), type(sympy.pi),
             *(f for name, f in FUNCTIONS.items() if name != "sqrt"))
    return not expr.has(*UNDEFINED) and all(isinstance(node, kinds) for node in sympy.preorder_traversal(expr))


def random_expressions(n=6):
    """Random trees over the operators above, with leaves x0 .. x{n-1} and numbers, as sympy builds them."""
    leaves = st.one_of(st.sampled_from(X[:n]), integers, rationals, st.sampled_from([sympy.E, sympy.pi]))
    return st.recursive(leaves, _compose, max_leaves=8).filter(in_language)


expressions = random_expressions()


@st.composite
def polynomials(draw, n=6):
    """Sums of coefficient * monomial in x0 .. x{n-1}, integer or rational coefficients, degree up to 4 per variable."""
    terms = draw(st.lists(st.tuples(st.one_of(integers, rationals), st.lists(st.integers(0, 4), min_size=n,
                                                                              max_size=n)), max_size=8))
    return sympy.Add(*(c * sympy.Mul(*(v**k for v, k in zip(X[:n], powers))) for c, powers in terms))


# --- tokens -------------------------------------------------------------------------------------------------------


@PROPERTY
@given(expressions)
def test_round_trip_of_random_expressions(expr):
    tokens = encode(expr)
    assert all(token in VOCABULARY for token in tokens)
    assert decode(tokens) == canonical(expr)  # == expr but for rare sympy results, see below
    assert decode(encode(canonical(expr))) == canonical(expr)


@PROPERTY
@given(polynomials())
def test_round_trip_of_polynomials(expr):
    assert decode(encode(expr)) == expr


@PROPERTY
@given(st.lists(st.one_of(polynomials(), expressions), min_size=1, max_size=5))
def test_round_trip_of_systems(system):
    system = tuple(canonical(f) for f in system)
    tokens = encode_system(system)
    assert decode_system(tokens) == system
    assert from_ids(to_ids(tokens)) == tokens


def test_examples_of_the_token_scheme():
    assert encode(x0 - 3 * x1) == ["add", "x0", "mul", "-", "3", "x1"]
    assert encode(sympy.Integer(1234)) == ["+", "1", "234"]
    assert encode(sympy.Integer(0)) == ["+", "0"]
    assert encode(sympy.Rational(-3, 4)) == ["rat", "-", "3", "+", "4"]
    assert encode(x0 / x1) == ["mul", "x0", "pow", "x1", "-", "1"]
    assert encode(sympy.sqrt(x0)) == ["sqrt", "x0"]
    assert encode(sympy.exp(-x2)) == ["exp", "mul", "-", "1", "x2"]
    assert encode_system([-x0, -x1]) == ["mul", "-", "1", "x0", "|", "mul", "-", "1", "x1"]
    assert encode(7) == ["+", "7"]


def test_sympy_rewrites_are_encoded_as_sympy_stores_them():
    # sqrt(x0**2) is Abs(x0) for a real x0; atan(1) is pi/4; exp(x0)**2 is exp(2*x0).
    for expr in [sympy.sqrt(x0**2), sympy.atan(1) * x1, sympy.exp(x0) ** 2, 2 * x2 * (x0 + x1)]:
        assert decode(encode(expr)) == expr


def test_sympy_results_that_are_not_canonical():
    # Sympy's own arithmetic sometimes stops short: these came out of random trees (built here directly).
    for expr, done in [(sympy.Abs(sympy.Abs(x0), evaluate=False), sympy.Abs(x0)),
                       (sympy.Mul(8, 2 ** sympy.Rational(1, 4), sympy.sqrt(2), evaluate=False), 8 * 2 ** sympy.Rational(3, 4))]:
        assert expr != done and canonical(expr) == done
        assert decode(encode(expr)) == done and decode(encode(done)) == done


def test_a_long_polynomial_does_not_recurse_per_term():
    expr = sympy.Add(*(k * x0**k for k in range(1, 1200)))
    assert decode(encode(expr)) == expr


@pytest.mark.parametrize("expr, reason", [
    (sympy.Symbol("x0"), "only the real symbols"),  # not real: it would decode to another symbol
    (sympy.Symbol("y", real=True), "only the real symbols"),
    (sympy.Float(0.5) * x0, "float"),
    (sympy.I * x0, "no token"),
    (sympy.sinh(x0), "no token"),
])
def test_what_has_no_tokens(expr, reason):
    with pytest.raises(ValueError, match=reason):
        encode(expr)


@pytest.mark.parametrize("tokens, reason", [
    ([], "missing operand: the tokens end at position 0"),
    (["add", "x0"], "missing operand: the tokens end at position 2"),
    (["pow", "x0"], "missing operand"),
    (["sin"], "missing operand"),
    (["x0", "x1"], "trailing tokens after a complete expression, from position 1"),
    (["foo"], "unknown token 'foo' at position 0"),
    (["add", "5", "x0"], "digit '5' at position 1 does not follow a sign"),
    (["-"], "expected a base-1000 digit"),
    (["rat", "+", "1", "x0"], "expected a sign"),
    (["rat", "+", "1", "+", "0"], "denominator 0"),
    (["x0", "|", "x1"], "trailing tokens"),
    (["add", "|", "x1"], "got the separator"),
    (["log", "+", "0"], "zoo is undefined or not real"),
    (["sqrt", "-", "1"], "I is undefined or not real"),
    (["pow", "+", "999", "+", "999", "999", "999"], "too large to compute"),
    (["pow", "mul", "+", "999", "999", "x0", "+", "999", "999"], "too large to compute"),  # sympy distributes
    (["exp"] * 5000 + ["x0"], "nested too deeply"),
])
def test_malformed_tokens(tokens, reason):
    with pytest.raises(ValueError, match=reason):
        decode(tokens)


@pytest.mark.parametrize("tokens, reason", [
    (["x0", "|"], "missing operand: the tokens end at position 2"),
    (["|", "x0"], "got the separator"),
    (["x0", "x1"], "expected '|' or the end after equation 1 at position 1"),
])
def test_malformed_systems(tokens, reason):
    with pytest.raises(ValueError, match=reason):
        decode_system(tokens)


def test_length_limit():
    expr = x0 + x1 + x2  # add x0 add x1 x2: 5 tokens
    assert len(encode(expr, max_length=5)) == 5
    with pytest.raises(ExpressionTooLong, match="^expression is 5 tokens long, over the limit of 4$"):
        encode(expr, max_length=4)
    with pytest.raises(ValueError, match="^system is 11 tokens long, over the limit of 10$"):
        encode_system([expr, expr], max_length=10)


def test_vocabulary_and_ids():
    assert len(VOCABULARY) == len(set(VOCABULARY)) == 1023
    assert {"add", "mul", "pow", "rat", "sqrt", "x5", "|", "+", "-", "0", "999"} <= set(VOCABULARY)
    ids = to_ids(VOCABULARY)
    assert ids.dtype == np.int64 and ids.tolist() == list(range(len(VOCABULARY)))
    assert from_ids(ids) == VOCABULARY
    with pytest.raises(ValueError, match="outside"):
        from_ids([len(VOCABULARY)])
    with pytest.raises(ValueError, match="outside"):
        from_ids([-1])
    with pytest.raises(ValueError, match="unknown symbol"):
        to_ids(["add", "x6"])


# --- the parser ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "-x0 + x1; -x0 - 3*x1",
    "-x0 + x1\n-x0 - 3*x1\n",
    "x0' = -x0 + x1; x1' = -x0 - 3*x1",
    "x1' = -x0 - 3*x1\nx0' = -x0 + x1",  # any order of x0' .. x{n-1}'
    "x' = -x + y; y' = -x - 3*y",
    "u' = -u + v; v' = -u - 3 * v",
    "x0' = -x0 + x1; x1' = -x0 - 3.0*x1",
    "-x0^1 + x1; -x0 - 6/2*x1",
])
def test_parse_system_forms(text):
    assert parse_system(text) == (-x0 + x1, -x0 - 3 * x1)


def test_parse_system_nonpolynomial():
    system = parse_system("x' = -sin(x) + y^2/2; y' = -y*exp(x) - ln(1 + x^2) + sqrt(abs(x))*x")
    assert system == (-sympy.sin(x0) + x1**2 / 2, -x1 * sympy.exp(x0) - sympy.log(1 + x0**2) + sympy.sqrt(abs(x0)) * x0)
    assert parse_system("x0' = -x0 + 0.25*x1**3; x1' = -x1") == (-x0 + sympy.Rational(1, 4) * x1**3, -x1)


@pytest.mark.parametrize("text, reason", [
    ("", "no equations"),
    ("-x0 + ; -x1", "equation 1: cannot parse '-x0 \\+' \\(SyntaxError\\)"),
    ("-x0 + z; -x1", "equation 1: unknown name 'z': the variables are x0, x1"),
    ("-x0; -x1 + x2", "equation 2: x2 is not a variable: 2 equations have the variables x0, x1"),
    ("-x0; -sinh(x1)", "equation 2: unknown name 'sinh'"),
    ("x' = -x + y; y' = -y + z", "equation 2: unknown name 'z': the variables are x, y"),
    ("x' = -x0", "unknown name 'x0'"),
    ("x1' = -x1; x2' = -x2", "left-hand sides x1, x2: a 2-equation system needs x0, x1, each once"),
    ("x0' = -x0; x0' = -x1", "each once"),
    ("x' = -x; x' = -x", "each variable needs its own equation"),
    ("x' = -x; -y", "either every equation has a left-hand side"),
    ("dx/dt = -x", "not a derivative like x0' or x'"),
    ("x0' = -x0 + 1; x1' = -x1", "equation 1 is 1 at x = 0, not 0: the origin must be an equilibrium"),
    ("-x0; cos(x1)", "equation 2 is 1 at x = 0"),
    ("log(x0); -x1", "equation 1 is zoo at x = 0"),
    (";".join(["-x0"] * 7), "7 equations: at most 6 are supported"),
    ("-x0; x1.__class__", "character '_' is not allowed"),
    ("-x0; x1.real", "'.' is only allowed in numbers"),
    ("-x0; 'x1'", "character \"'\" is not allowed"),
    ("x0' = -x0; x1' = x1 = 2", "character '=' is not allowed"),
    ("-x0; [x1][0]", "character '\\[' is not allowed"),
    ("-x0; sin", "cannot parse 'sin'"),
    ("-x0; 2**2**2**2**2**2*x1", "too large to compute"),
    ("-x0; sqrt(-1)*x1", "equation 2: I\\*x1 is undefined or not real"),
    ("x' = -x; E' = -E", "E is Euler's number"),
])
def test_parse_system_errors(text, reason):
    with pytest.raises(ValueError, match=reason) as error:
        parse_system(text)
    assert "\n" not in str(error.value)


def test_parse_function():
    V = x0**2 + x1**2 / 2 + 1 - sympy.cos(x2)
    assert parse_function("x0^2 + x1**2/2 + 1 - cos(x2)", 3) == V
    assert parse_function("V = x0^2 + x1**2/2 + 1 - cos(x2)", 3) == V
    with pytest.raises(ValueError, match="V: x3 is not a variable"):
        parse_function("x0**2 + x3**2", 3)
    with pytest.raises(ValueError, match="V: unknown name 'y'"):
        parse_function("x0**2 + y**2", 3)
    with pytest.raises(ValueError, match="systems have 1 .. 6 variables"):
        parse_function("x0**2", 7)


def test_to_text_reads_back():
    system = (-x0 + x1**3 / 3 - sympy.sqrt(2) * x2, -sympy.sin(x1) * sympy.exp(x0), -x2 * sympy.atan(x0) ** 2 - x2)
    assert to_text(system).startswith("x0' = ")
    assert parse_system(to_text(system)) == system


@PROPERTY
@given(expressions.map(canonical))
def test_function_text_reads_back(expr):
    assert parse_function(function_text(expr), 6) == expr


@PROPERTY
@given(st.lists(st.one_of(polynomials(3), random_expressions(3).map(lambda e: e * x1)), min_size=3, max_size=3))
def test_to_text_reads_back_random_systems(system):
    system = tuple(canonical(f) for f in system)
    assume(all(f.subs({v: 0 for v in X}) == 0 for f in system))  # 0 must be an equilibrium
    assert parse_system(to_text(system)) == system
