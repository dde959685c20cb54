"""Numbers as token strings for input -> output math tasks (Int2Int / LAWT conventions).

Every encoding offers
    symbols()                -> every token string it can produce: a fixed, finite alphabet without duplicates
    encode(value)            -> list of token strings; ValueError for a value out of its range (or of the wrong
                                size), TypeError for a value of the wrong type
    decode(tokens, start=0)  -> (value, consumed): one value parsed from tokens[start:], the rest ignored;
                                ValueError, and no other exception, when no well-formed value starts there
    decode_all(tokens)       -> the value, when the tokens are exactly one encoded value; else ValueError

Decoding raises rather than returning None so that a caller can tell "no value" apart from a value, and a
message says where and why. `tokens` is any sequence (list, tuple, numpy array of str); anything that is not one
of the encoding's symbols is a parse error. Vocabulary turns the symbols of one or more encodings into the
contiguous problem token ids 0 .. n-1 that tokens.pack() expects.
"""
import abc
import collections.abc
import dataclasses
import math
import numbers
import operator
import re

import numpy as np

SIGNS = ("+", "-")
SCHEMES = ("P10", "P1000", "B1999", "FP15")
# Tokens per number at any precision p; P10 spends one token per decimal digit.
SCHEME_LENGTHS = {"P10": lambda p: p + 2, "P1000": lambda p: 3, "B1999": lambda p: 2, "FP15": lambda p: 1}
# Doubles keep 15 significant decimal digits and stay finite below 1.8e308: the limits of exact round trips.
MAX_PRECISION = 15
MAX_DECIMAL_EXPONENT = 308

_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)")  # canonical: no "+", no leading zeros


class Encoding(abc.ABC):
    """The common API; see the module docstring."""

    @abc.abstractmethod
    def symbols(self) -> list[str]: ...

    @abc.abstractmethod
    def encode(self, value) -> list[str]: ...

    @abc.abstractmethod
    def decode(self, tokens, start=0) -> tuple[object, int]: ...

    def decode_all(self, tokens):
        value, consumed = self.decode(tokens)
        if consumed != len(tokens):
            raise ValueError(f"{len(tokens) - consumed} tokens left over after the value, from position {consumed}")
        return value


@dataclasses.dataclass(frozen=True)
class IntegerEncoding(Encoding):
    """A sign token '+' or '-', then base-`base` digits, most significant first; 0 is ['+', '0'].

    Digits are the decimal strings '0' .. str(base - 1). Decoding reads digits up to the first token that is not
    one (so integers in a row are split by their signs) and accepts leading zeros and '-0': their value is clear.
    """

    base: int = 1000

    def __post_init__(self):
        _check_int_param("integer base", self.base, 2)

    def symbols(self):
        return [*SIGNS, *(str(d) for d in range(self.base))]

    def encode(self, value):
        number = _as_int(value)
        digits, rest = [], abs(number)
        while True:
            rest, digit = divmod(rest, self.base)
            digits.append(str(digit))
            if rest == 0:
                break
        return ["-" if number < 0 else "+", *reversed(digits)]

    def decode(self, tokens, start=0):
        sign = _read_sign(tokens, start, "integer")
        value, pos = 0, start + 1
        while pos < len(tokens) and (digit := _number_token(tokens[pos], "", 0, self.base - 1)) is not None:
            value = value * self.base + digit
            pos += 1
        if pos == start + 1:
            raise ValueError(f"integer: expected a base-{self.base} digit at position {pos}, got {_shown(tokens, pos)}")
        return sign * value, pos - start


@dataclasses.dataclass(frozen=True)
class FloatEncoding(Encoding):
    """Reals as m * 10^e with an integer mantissa m of `precision` digits, in one of LAWT's four layouts.

    For 3.14159 at precision 3 (m = 314, e = -2):
        P10    ['+', '3', '1', '4', 'E-2']   sign, one token per decimal digit, exponent (p + 2 tokens)
        P1000  ['+', '314', 'E-2']           sign, mantissa 0 .. 10^p - 1, exponent
        B1999  ['N314', 'E-2']               signed mantissa -(10^p - 1) .. 10^p - 1, exponent
        FP15   ['FP314E-2']                  one token per number
    The names are LAWT's for precision 3; another precision keeps the layout and scales the mantissa range.

    Rounding is half-even on the exact binary value, to `precision` significant digits; `rounded(x)` is what
    decode(encode(x)) gives. Exponents lie in -max_exponent .. max_exponent. Zero (and -0.0) encodes as mantissa
    0, exponent 0, sign '+'. A value whose rounded exponent falls below -max_exponent encodes as 0 (underflow, as
    LAWT); NaN, infinities and values whose rounded exponent exceeds max_exponent raise ValueError.
    Decoding accepts any mantissa of the alphabet, so P10/P1000/B1999 read unnormalised mantissas ('+', '5', 'E0'
    is 5.0); the FP15 alphabet holds only normalised mantissas and 'FP0E0'.
    Alphabet sizes grow as 10^p for P1000 and B1999 and as 1.8 * 10^p * (2 * max_exponent + 1) for FP15 (361,801
    symbols at the defaults): keep precision small and, for FP15, the exponent range narrow.
    """

    scheme: str
    precision: int = 3
    max_exponent: int = 100

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise ValueError(f"unknown float scheme {self.scheme!r}; choose one of {', '.join(SCHEMES)}")
        _check_int_param("float precision", self.precision, 1, MAX_PRECISION)
        _check_int_param("float max_exponent", self.max_exponent, 0, MAX_DECIMAL_EXPONENT - self.precision)

    @property
    def length(self):
        """Tokens per number (P10 p + 2, P1000 3, B1999 2, FP15 1)."""
        return SCHEME_LENGTHS[self.scheme](self.precision)

    def symbols(self):
        exponents = [f"E{e}" for e in range(-self.max_exponent, self.max_exponent + 1)]
        if self.scheme == "P10":
            return [*SIGNS, *(str(d) for d in range(10)), *exponents]
        if self.scheme == "P1000":
            return [*SIGNS, *(str(m) for m in range(10**self.precision)), *exponents]
        if self.scheme == "B1999":
            top = 10**self.precision - 1
            return [*(f"N{m}" for m in range(-top, top + 1)), *exponents]
        return ["FP0E0", *(f"FP{m}E{e}" for e in range(-self.max_exponent, self.max_exponent + 1)
                           for m in self._normalised_mantissas())]

    def encode(self, value):
        mantissa, exponent = self._split(value)
        sign, digits = ("-" if mantissa < 0 else "+"), str(abs(mantissa))
        if self.scheme == "P10":
            return [sign, *digits.zfill(self.precision), f"E{exponent}"]
        if self.scheme == "P1000":
            return [sign, digits, f"E{exponent}"]
        if self.scheme == "B1999":
            return [f"N{mantissa}", f"E{exponent}"]
        return [f"FP{mantissa}E{exponent}"]

    def decode(self, tokens, start=0):
        if self.scheme == "FP15":
            mantissa, exponent = self._read_fp15(tokens, start)
        else:
            mantissa = self._read_mantissa(tokens, start)
            exponent = self._read_exponent(tokens, start + self.length - 1)
        return _decimal_value(mantissa, exponent), self.length

    def rounded(self, value):
        """`value` as decode(encode(value)) returns it: rounded, flushed to 0 below range; ValueError above."""
        return _decimal_value(*self._split(value))

    def _split(self, value):
        """(signed mantissa of `precision` digits or 0, exponent) for a real value."""
        number = _as_finite_float(value)
        if number == 0:
            return 0, 0
        # %e formatting rounds the exact binary value half-even and carries (9.996 -> 1.00e+01) for us.
        digits, exponent10 = f"{abs(number):.{self.precision - 1}e}".split("e")
        mantissa, exponent = int(digits.replace(".", "")), int(exponent10) - (self.precision - 1)
        if exponent > self.max_exponent:
            raise ValueError(f"{value!r} is too large for {self.precision} digits with exponents up to "
                             f"{self.max_exponent} (at most {10**self.precision - 1}e{self.max_exponent})")
        if exponent < -self.max_exponent:
            return 0, 0
        return (mantissa if number > 0 else -mantissa), exponent

    def split_array(self, values):
        """(signed mantissas, exponents) of a numpy array at once: what encode() writes, for batches.

        Rounds with floating-point arithmetic; the few values whose scaled magnitude lies near a rounding tie or
        whose mantissa is the lowest (a carry: 0.995 at 2 digits, where that arithmetic could round the other
        way) are split exactly, one by one."""
        x = np.asarray(values, dtype=np.float64)
        if not np.isfinite(x).all():
            raise ValueError("NaN or infinite value")
        magnitude, low = np.abs(x), 10 ** (self.precision - 1)
        nonzero = magnitude > 0
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # subnormals: 10^e underflows; they flush to 0 below
            exponent = np.zeros(x.shape, dtype=np.int64)
            exponent[nonzero] = np.floor(np.log10(magnitude[nonzero])).astype(np.int64) - (self.precision - 1)
            mantissa = np.rint(magnitude / np.power(10.0, exponent)).astype(np.int64)
            for _ in range(2):  # log10 can be off by one next to a power of ten
                high, small = mantissa >= 10 * low, nonzero & (mantissa < low)
                exponent += high.astype(np.int64) - small.astype(np.int64)
                mantissa = np.where(high | small, np.rint(magnitude / np.power(10.0, exponent)), mantissa).astype(np.int64)
        if (exponent[nonzero] > self.max_exponent).any():
            raise ValueError(f"a value is too large for exponents up to {self.max_exponent}")
        under = ~nonzero | (exponent < -self.max_exponent)
        mantissa[under], exponent[under] = 0, 0
        mantissa = np.where(x < 0, -mantissa, mantissa)
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = magnitude / np.power(10.0, exponent)
        near = (np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6) | (np.abs(mantissa) == low)  # a tie, or a carry
        for i in np.flatnonzero(~under & near):
            index = np.unravel_index(i, x.shape)
            mantissa[index], exponent[index] = self._split(float(x[index]))
        return mantissa, exponent

    def _normalised_mantissas(self):
        low, high = 10 ** (self.precision - 1), 10**self.precision
        return [*range(-high + 1, -low + 1), *range(low, high)]

    def _read_mantissa(self, tokens, start):
        """The signed mantissa of a P10, P1000 or B1999 number starting at `start`."""
        top = 10**self.precision - 1
        if self.scheme == "B1999":
            return _expect_number(tokens, start, "N", -top, top, "B1999 mantissa")
        sign = _read_sign(tokens, start, self.scheme)
        if self.scheme == "P1000":
            return sign * _expect_number(tokens, start + 1, "", 0, top, "P1000 mantissa")
        mantissa = 0
        for pos in range(start + 1, start + 1 + self.precision):
            mantissa = 10 * mantissa + _expect_number(tokens, pos, "", 0, 9, "P10 digit")
        return sign * mantissa

    def _read_exponent(self, tokens, pos):
        return _expect_number(tokens, pos, "E", -self.max_exponent, self.max_exponent, "exponent")

    def _read_fp15(self, tokens, pos):
        token = _token_at(tokens, pos, "FP15 number")
        body = token[2:] if isinstance(token, str) and token.startswith("FP") else ""
        mantissa_text, _, exponent_text = body.partition("E")
        mantissa = _number_token(mantissa_text, "", -(10**self.precision - 1), 10**self.precision - 1)
        exponent = _number_token(exponent_text, "", -self.max_exponent, self.max_exponent)
        normalised = mantissa is not None and (abs(mantissa) >= 10 ** (self.precision - 1) or mantissa == exponent == 0)
        if exponent is None or not normalised:
            raise ValueError(f"FP15 number: {token!r} at position {pos} is not one of this encoding's symbols")
        return mantissa, exponent


@dataclasses.dataclass(frozen=True)
class VectorEncoding(Encoding):
    """'V<n>' then the n elements, each by `element`; 1 <= n <= max_size. Decodes to a list."""

    element: Encoding
    max_size: int = 100

    def __post_init__(self):
        _check_element(self.element)
        _check_int_param("vector max_size", self.max_size, 1)

    def symbols(self):
        return [*(f"V{n}" for n in range(1, self.max_size + 1)), *self.element.symbols()]

    def encode(self, value):
        items = _as_list(value, "vector")
        _check_size("vector length", len(items), self.max_size)
        return [f"V{len(items)}", *_encode_all(self.element, items)]

    def decode(self, tokens, start=0):
        size = _expect_number(tokens, start, "V", 1, self.max_size, "vector length")
        items, end = _decode_run(self.element, tokens, start + 1, size)
        return items, end - start


@dataclasses.dataclass(frozen=True)
class MatrixEncoding(Encoding):
    """'R<rows>' 'C<columns>' then the entries row by row, each by `element`; both sizes in 1 .. max_size.

    Encodes any rectangular sequence of rows (lists, numpy arrays); decodes to a list of row lists.
    """

    element: Encoding
    max_size: int = 100

    def __post_init__(self):
        _check_element(self.element)
        _check_int_param("matrix max_size", self.max_size, 1)

    def symbols(self):
        sizes = range(1, self.max_size + 1)
        return [*(f"R{n}" for n in sizes), *(f"C{n}" for n in sizes), *self.element.symbols()]

    def encode(self, value):
        rows = [_as_list(row, "matrix row") for row in _as_list(value, "matrix")]
        _check_size("matrix rows", len(rows), self.max_size)
        _check_size("matrix columns", len(rows[0]), self.max_size)
        if any(len(row) != len(rows[0]) for row in rows):
            raise ValueError(f"matrix rows have different lengths: {sorted({len(row) for row in rows})}")
        return [f"R{len(rows)}", f"C{len(rows[0])}", *_encode_all(self.element, [x for row in rows for x in row])]

    def decode(self, tokens, start=0):
        n_rows = _expect_number(tokens, start, "R", 1, self.max_size, "matrix rows")
        n_cols = _expect_number(tokens, start + 1, "C", 1, self.max_size, "matrix columns")
        entries, end = _decode_run(self.element, tokens, start + 2, n_rows * n_cols)
        return [entries[r * n_cols : (r + 1) * n_cols] for r in range(n_rows)], end - start


class Vocabulary:
    """Symbol strings <-> contiguous ids 0 .. len - 1, in first-seen order.

    A repeated symbol keeps its first id, so the alphabets of several encodings can simply be concatenated:
    Vocabulary([*question.symbols(), *answer.symbols()]).
    """

    def __init__(self, symbols):
        self._ids = {}
        for symbol in symbols:
            if not isinstance(symbol, str):
                raise TypeError(f"vocabulary symbols must be strings, got {symbol!r}")
            self._ids.setdefault(symbol, len(self._ids))
        self.symbols = tuple(self._ids)

    def __len__(self):
        return len(self.symbols)

    def __contains__(self, symbol):
        return isinstance(symbol, str) and symbol in self._ids

    def id_of(self, symbol):
        if symbol not in self:
            raise ValueError(f"unknown symbol {symbol!r}: not in this vocabulary of {len(self)} symbols")
        return self._ids[symbol]

    def symbol_of(self, token_id):
        try:
            index = operator.index(token_id)
        except TypeError:
            raise ValueError(f"token ids are integers, got {token_id!r}") from None
        if not 0 <= index < len(self.symbols):
            raise ValueError(f"token id {index} is outside this vocabulary's ids 0 .. {len(self.symbols) - 1}")
        return self.symbols[index]

    def to_ids(self, symbols):
        return [self.id_of(symbol) for symbol in symbols]

    def to_symbols(self, token_ids):
        return [self.symbol_of(token_id) for token_id in token_ids]


# --- parameter and value checks ---------------------------------------------------------------------------------


def _check_int_param(name, value, low, high=None):
    is_integer = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not (is_integer and low <= value and (high is None or value <= high)):
        bound = f">= {low}" if high is None else f"in {low} .. {high}"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")


def _check_element(element):
    if not isinstance(element, Encoding):
        raise TypeError(f"element must be an Encoding (IntegerEncoding, FloatEncoding, ...), got {element!r}")


def _check_size(name, size, max_size):
    if not 1 <= size <= max_size:
        raise ValueError(f"{name} must be in 1 .. {max_size}, got {size}")


def _as_int(value):
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"not an integer: {value!r}") from None


def _as_finite_float(value):
    if not isinstance(value, numbers.Real):
        raise TypeError(f"not a real number: {value!r}")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{value!r} is too large for a float") from None
    if not math.isfinite(number):
        raise ValueError(f"cannot encode {value!r}: only finite numbers have an encoding")
    return number


def _as_list(value, what):
    if isinstance(value, (str, bytes)) or not isinstance(value, collections.abc.Iterable):
        raise TypeError(f"a {what} must be a sequence of numbers, got {value!r}")
    return list(value)


# --- token parsing ------------------------------------------------------------------------------------------------


def _number_token(token, prefix, low, high):
    """The integer named by `token` (prefix, then a canonical decimal) when it lies in low .. high; else None."""
    if not isinstance(token, str) or not token.startswith(prefix):
        return None
    body = token[len(prefix) :]
    # The length cap keeps int() off huge digit strings, which Python refuses with its own error.
    if len(body) > len(str(max(-low, high))) + 1 or not _DECIMAL.fullmatch(body) or body == "-0":
        return None
    value = int(body)
    return value if low <= value <= high else None


def _token_at(tokens, pos, what):
    if not 0 <= pos < len(tokens):
        raise ValueError(f"{what}: the sequence ends at position {pos}")
    return tokens[pos]


def _expect_number(tokens, pos, prefix, low, high, what):
    value = _number_token(_token_at(tokens, pos, what), prefix, low, high)
    if value is None:
        raise ValueError(f"{what}: expected {prefix}<{low} .. {high}> at position {pos}, got {tokens[pos]!r}")
    return value


def _read_sign(tokens, pos, what):
    token = _token_at(tokens, pos, what)
    if not (isinstance(token, str) and token in SIGNS):
        raise ValueError(f"{what}: expected a sign '+' or '-' at position {pos}, got {token!r}")
    return 1 if token == "+" else -1


def _shown(tokens, pos):
    return repr(tokens[pos]) if pos < len(tokens) else "the end of the sequence"


def _encode_all(element, items):
    return [token for item in items for token in element.encode(item)]


def _decode_run(element, tokens, pos, count):
    """`count` consecutive elements from position `pos`: (values, position after the last)."""
    values = []
    for _ in range(count):
        value, consumed = element.decode(tokens, pos)
        values.append(value)
        pos += consumed
    return values, pos


def _decimal_value(mantissa, exponent):
    # Parsing the decimal string rounds m * 10^e correctly once; float arithmetic would round twice.
    return float(f"{mantissa}e{exponent}")
