"""Number encodings: exact or rounding-exact round trips, LAWT token counts, closed alphabets, clean parse errors."""
import decimal
import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patternboost.encodings import (
    SCHEMES,
    FloatEncoding,
    IntegerEncoding,
    MatrixEncoding,
    VectorEncoding,
    Vocabulary,
)

# No deadline: this machine may be busy, and a slow example is not a wrong one.
quick = settings(max_examples=60, deadline=None)

bases = st.one_of(st.sampled_from([2, 10, 30, 420, 1000, 2401]), st.integers(2, 5000))
integers = st.one_of(st.integers(), st.integers(-(10**300), 10**300))
schemes = st.sampled_from(SCHEMES)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)


@functools.cache
def alphabet(encoding):
    return frozenset(encoding.symbols())


@functools.cache
def sorted_symbols(encoding):
    return sorted(encoding.symbols())


def reference_round(x, precision, max_exponent):
    """x rounded half-even to `precision` significant digits by exact decimal arithmetic, 0.0 below the exponent
    range, None above it: what the float encodings promise, computed independently of their %e formatting."""
    if x == 0:
        return 0.0
    rounded = decimal.Context(prec=precision, rounding=decimal.ROUND_HALF_EVEN).plus(decimal.Decimal(x))
    exponent = rounded.adjusted() - (precision - 1)
    if exponent > max_exponent:
        return None
    return 0.0 if exponent < -max_exponent else float(rounded)


precisions = st.integers(1, 6)
max_exponents = st.integers(0, 300)


@st.composite
def float_encodings(draw, precision=precisions, max_exponent=max_exponents):
    precision = draw(precision)
    return FloatEncoding(draw(schemes), precision, min(draw(max_exponent), 308 - precision))


# Small alphabets, for the tests that enumerate symbols (FP15 at precision 6 would have millions).
small_float_encodings = float_encodings(st.integers(1, 3), st.integers(0, 4))


@st.composite
def representable_floats(draw, encoding):
    """A float that is exactly some m * 10^e of the encoding, m normalised."""
    p, top = encoding.precision, encoding.max_exponent
    mantissa = draw(st.integers(10 ** (p - 1), 10**p - 1)) * draw(st.sampled_from([1, -1]))
    return float(f"{mantissa}e{draw(st.integers(-top, top))}")


# --- integers ---------------------------------------------------------------------------------------------------


@quick
@given(bases, integers)
def test_integer_round_trip_is_exact(base, n):
    encoding = IntegerEncoding(base)
    tokens = encoding.encode(n)
    assert encoding.decode(tokens) == (n, len(tokens))
    assert set(tokens) <= alphabet(encoding)


def test_integer_examples():
    assert IntegerEncoding().encode(0) == ["+", "0"]
    assert IntegerEncoding().encode(-1234567) == ["-", "1", "234", "567"]
    assert IntegerEncoding(10).encode(905) == ["+", "9", "0", "5"]
    assert IntegerEncoding(2).encode(np.int64(-6)) == ["-", "1", "1", "0"]
    assert IntegerEncoding(10).decode(["-", "0", "0", "7", "+", "1"]) == (-7, 4)  # leading zeros read, stops at a sign


def test_integer_symbols():
    assert IntegerEncoding(3).symbols() == ["+", "-", "0", "1", "2"]


@quick
@given(bases, integers)
def test_truncated_integer_parses_a_shorter_prefix_or_fails(base, n):
    encoding = IntegerEncoding(base)
    tokens = encoding.encode(n)
    with pytest.raises(ValueError):
        encoding.decode(tokens[:1])
    sign = -1 if n < 0 else 1
    for cut in range(2, len(tokens)):
        prefix_value = sign * functools.reduce(lambda acc, digit: acc * base + int(digit), tokens[1:cut], 0)
        assert encoding.decode(tokens[:cut]) == (prefix_value, cut)


# --- floats -----------------------------------------------------------------------------------------------------


@quick
@given(float_encodings(), finite_floats)
def test_float_round_trip_rounds_to_precision(encoding, x):
    expected = reference_round(x, encoding.precision, encoding.max_exponent)
    if expected is None:
        with pytest.raises(ValueError):
            encoding.encode(x)
        return
    tokens = encoding.encode(x)
    assert encoding.decode(tokens) == (expected, encoding.length)
    assert encoding.rounded(x) == expected
    assert len(tokens) == encoding.length


@quick
@given(st.data())
def test_rounded_float_round_trip_is_exact(data):
    encoding = data.draw(float_encodings())
    x = data.draw(representable_floats(encoding))
    assert encoding.decode(encoding.encode(x)) == (x, encoding.length)
    assert encoding.rounded(x) == x


@quick
@given(float_encodings(max_exponent=st.integers(10, 300)), st.floats(-1e6, 1e6))
def test_relative_rounding_error_is_half_a_unit_in_the_last_digit(encoding, x):
    error = abs(encoding.rounded(x) - x)
    smallest = 10.0 ** (encoding.precision - 1 - encoding.max_exponent)  # below it, values flush to 0
    assert error <= 0.5 * 10 ** (1 - encoding.precision) * abs(x) + 1e-15 * abs(x) or abs(x) < smallest


@quick
@given(small_float_encodings, finite_floats)
def test_float_tokens_lie_in_symbols(encoding, x):
    if reference_round(x, encoding.precision, encoding.max_exponent) is not None:
        assert set(encoding.encode(x)) <= alphabet(encoding)


@pytest.mark.parametrize(("scheme", "length"), [("P10", 5), ("P1000", 3), ("B1999", 2), ("FP15", 1)])
def test_tokens_per_number_match_lawt(scheme, length):
    encoding = FloatEncoding(scheme)
    assert encoding.length == length
    assert {len(encoding.encode(x)) for x in [0.0, 3.14159, -2.5e-7, 1e99, -123456.0]} == {length}


def test_float_examples():
    assert FloatEncoding("P10").encode(3.14159) == ["+", "3", "1", "4", "E-2"]
    assert FloatEncoding("P1000").encode(-3.14159) == ["-", "314", "E-2"]
    assert FloatEncoding("B1999").encode(9.996) == ["N100", "E-1"]  # rounding carries into the exponent
    assert FloatEncoding("FP15").encode(np.float32(0.5)) == ["FP500E-3"]
    assert FloatEncoding("P10", precision=1).encode(-7.0) == ["-", "7", "E0"]


@pytest.mark.parametrize(("scheme", "zero"), [("P10", ["+", "0", "0", "0", "E0"]), ("P1000", ["+", "0", "E0"]),
                                              ("B1999", ["N0", "E0"]), ("FP15", ["FP0E0"])])
def test_zero_and_underflow_encode_as_zero(scheme, zero):
    encoding = FloatEncoding(scheme, max_exponent=10)
    assert encoding.encode(0.0) == encoding.encode(-0.0) == encoding.encode(-1e-20) == zero
    assert encoding.decode_all(zero) == 0.0


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 1e20, -(10**400)])
def test_unencodable_floats_raise(scheme, value):
    with pytest.raises(ValueError):
        FloatEncoding(scheme, max_exponent=10).encode(value)


def test_unnormalised_mantissas_decode_to_their_value():
    assert FloatEncoding("P10").decode_all(["+", "0", "0", "5", "E1"]) == 50.0
    assert FloatEncoding("P1000").decode_all(["-", "5", "E0"]) == -5.0
    assert FloatEncoding("B1999").decode_all(["N-5", "E-1"]) == -0.5
    with pytest.raises(ValueError):
        FloatEncoding("FP15").decode(["FP5E0"])  # not an FP15 symbol


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("precision", [1, 2, 3])
def test_float_symbols_are_distinct_with_expected_counts(scheme, precision):
    encoding = FloatEncoding(scheme, precision, max_exponent=3)
    symbols = encoding.symbols()
    exponents, mantissas = 7, 10**precision
    expected = {"P10": 2 + 10 + exponents, "P1000": 2 + mantissas + exponents, "B1999": 2 * mantissas - 1 + exponents,
                "FP15": 1 + exponents * 2 * (mantissas - mantissas // 10)}[scheme]
    assert len(symbols) == len(set(symbols)) == expected


# --- vectors and matrices ---------------------------------------------------------------------------------------

element_encodings = st.one_of(bases.map(IntegerEncoding), small_float_encodings)


@st.composite
def elements(draw, encoding):
    if isinstance(encoding, IntegerEncoding):
        return draw(integers)
    return draw(representable_floats(encoding))


@quick
@given(st.data())
def test_vector_round_trip(data):
    encoding = VectorEncoding(data.draw(element_encodings), max_size=8)
    values = data.draw(st.lists(elements(encoding.element), min_size=1, max_size=8))
    tokens = encoding.encode(values)
    assert encoding.decode(tokens) == (values, len(tokens))
    assert tokens[0] == f"V{len(values)}"
    assert set(tokens) <= alphabet(encoding)


@quick
@given(st.data())
def test_matrix_round_trip(data):
    encoding = MatrixEncoding(data.draw(element_encodings), max_size=5)
    rows, cols = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5))
    matrix = data.draw(st.lists(st.lists(elements(encoding.element), min_size=cols, max_size=cols),
                                min_size=rows, max_size=rows))
    tokens = encoding.encode(matrix)
    assert tokens[:2] == [f"R{rows}", f"C{cols}"]
    assert encoding.decode(tokens) == (matrix, len(tokens))
    assert set(tokens) <= alphabet(encoding)


def test_matrix_accepts_numpy_and_rounds_entries():
    encoding = MatrixEncoding(FloatEncoding("P1000"), max_size=5)
    assert encoding.decode_all(encoding.encode(np.array([[1.0, 2.0], [3.0, 4.56789]]))) == [[1.0, 2.0], [3.0, 4.57]]


@pytest.mark.parametrize("bad", [[], [[]], [[1], [1, 2]], [[1] * 6], [[1]] * 6])
def test_bad_matrix_shapes_raise(bad):
    with pytest.raises(ValueError):
        MatrixEncoding(IntegerEncoding(), max_size=5).encode(bad)


@pytest.mark.parametrize("bad", [[], [1] * 6])
def test_bad_vector_lengths_raise(bad):
    with pytest.raises(ValueError):
        VectorEncoding(IntegerEncoding(), max_size=5).encode(bad)


@pytest.mark.parametrize("bad", [[1.5], ["12"], [None]])
def test_non_integers_raise_type_error(bad):
    with pytest.raises(TypeError):
        VectorEncoding(IntegerEncoding()).encode(bad)


# --- decoding what a model may sample ---------------------------------------------------------------------------

all_encodings = st.one_of(element_encodings, element_encodings.map(lambda e: VectorEncoding(e, 4)),
                          element_encodings.map(lambda e: MatrixEncoding(e, 3)))
junk = st.sampled_from(["", "x", "E", "V", "N", "FP", "+1", "-0", "007", "E999", "N-0", "FPE", "FP1E", "V0", "R0", "C",
                        "FP100E1E1", "FP0E1", "FP-0E0", "E-0", "E01", "V05", "\u0661", None, 3, 2.5, b"1", (), []])


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_garbage_decodes_or_raises_value_error(data):
    encoding = data.draw(all_encodings)
    tokens = data.draw(st.lists(st.one_of(st.sampled_from(sorted_symbols(encoding)), junk), max_size=12))
    try:
        value, consumed = encoding.decode(tokens)
    except ValueError:
        return
    assert 1 <= consumed <= len(tokens)
    assert all(token in alphabet(encoding) for token in tokens[:consumed])  # only symbols are ever read
    assert encoding.decode_all(tokens[:consumed]) == value


@pytest.mark.parametrize(("scheme", "tokens"), [
    ("P10", ["+", "1", "2", "3", "E-0"]), ("P10", ["+", "1", "2", "3", "E01"]), ("P10", ["+", "1", "2", "03", "E0"]),
    ("P10", ["+", "1", "2", "10", "E0"]), ("P1000", ["+", "-0", "E0"]), ("P1000", ["+", "1000", "E0"]),
    ("P1000", ["1", "E0"]), ("B1999", ["N-0", "E0"]), ("B1999", ["N1000", "E0"]), ("B1999", ["N5", "E101"]),
    ("FP15", ["FP0E1"]), ("FP15", ["FP-0E0"]), ("FP15", ["FP0100E-2"]), ("FP15", ["FP100E101"]), ("FP15", ["FP1000E0"]),
    ("FP15", ["FP99E0"]), ("FP15", ["fp100E0"]), ("FP15", ["FP100e0"])])
def test_near_miss_tokens_are_rejected(scheme, tokens):
    with pytest.raises(ValueError):
        FloatEncoding(scheme).decode(tokens)


@pytest.mark.parametrize("tokens", [["+", "-0"], ["+", "1000"], ["+", "01"], ["+1"], ["+", " 1"], ["+", "\u0661"],
                                    ["+", "9" * 5000]])
def test_integer_near_miss_digits_are_rejected(tokens):
    with pytest.raises(ValueError):
        IntegerEncoding().decode(tokens)


@quick
@given(st.data())
def test_truncated_encodings_raise(data):
    # Float elements only: a vector cut inside its last integer still holds a (shorter) integer.
    encoding = data.draw(st.one_of(float_encodings(), small_float_encodings.map(lambda e: VectorEncoding(e, 4)),
                                   small_float_encodings.map(lambda e: MatrixEncoding(e, 3))))
    value = data.draw(elements(encoding) if isinstance(encoding, FloatEncoding) else
                      st.lists(elements(encoding.element), min_size=1, max_size=3))
    if isinstance(encoding, MatrixEncoding):
        value = [value]
    tokens = encoding.encode(value)
    for cut in range(len(tokens)):
        with pytest.raises(ValueError):
            encoding.decode(tokens[:cut])


@quick
@given(st.data())
def test_consecutive_values_split_exactly(data):
    encoding = data.draw(element_encodings)
    first, second = data.draw(elements(encoding)), data.draw(elements(encoding))
    tokens = encoding.encode(first) + encoding.encode(second)
    value, consumed = encoding.decode(tokens)
    assert value == first
    assert encoding.decode(tokens, consumed) == (second, len(tokens) - consumed)
    with pytest.raises(ValueError):
        encoding.decode_all(tokens)


# --- parameters and vocabulary ----------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: IntegerEncoding(1), lambda: IntegerEncoding(-5), lambda: IntegerEncoding(2.5),
                                  lambda: FloatEncoding("P100"), lambda: FloatEncoding("p10"),
                                  lambda: FloatEncoding("P10", 0), lambda: FloatEncoding("P10", 16),
                                  lambda: FloatEncoding("FP15", 3, -1), lambda: FloatEncoding("FP15", 3, 306),
                                  lambda: VectorEncoding(IntegerEncoding(), 0),
                                  lambda: MatrixEncoding(IntegerEncoding(), 0)])
def test_invalid_parameters_raise_one_line(make):
    with pytest.raises(ValueError, match=r"^[^\n]+$"):
        make()


def test_element_must_be_an_encoding():
    with pytest.raises(TypeError):
        VectorEncoding(10)


def test_vocabulary_maps_symbols_to_contiguous_ids():
    ints, floats = IntegerEncoding(10), FloatEncoding("P10", max_exponent=5)
    vocabulary = Vocabulary([*ints.symbols(), *floats.symbols()])  # shared '+', '-', digits kept once
    assert len(vocabulary) == len(set(ints.symbols()) | set(floats.symbols())) == 2 + 10 + 11
    tokens = floats.encode(-0.0125)
    ids = vocabulary.to_ids(tokens)
    assert all(0 <= i < len(vocabulary) for i in ids)
    assert vocabulary.to_symbols(np.array(ids)) == tokens
    assert [vocabulary.id_of(s) for s in vocabulary.symbols] == list(range(len(vocabulary)))


@pytest.mark.parametrize("symbol", ["E6", "", "V1", None, []])
def test_vocabulary_rejects_unknown_symbols(symbol):
    vocabulary = Vocabulary(FloatEncoding("P10", max_exponent=5).symbols())
    assert symbol not in vocabulary
    with pytest.raises(ValueError, match="unknown symbol"):
        vocabulary.id_of(symbol)


@pytest.mark.parametrize("token_id", [-1, 3, 1.0, "0"])
def test_vocabulary_rejects_bad_ids(token_id):
    with pytest.raises(ValueError):
        Vocabulary(["a", "b", "c"]).symbol_of(token_id)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SCHEMES), st.integers(1, 6),
       st.lists(st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False), min_size=1, max_size=20))
def test_split_array_agrees_with_encode(scheme, precision, values):
    encoding = FloatEncoding(scheme, precision, 30)
    mantissas, exponents = encoding.split_array(np.array(values))
    assert [encoding._split(v) for v in values] == list(zip(mantissas.tolist(), exponents.tolist()))
