"""The contract checks: every kind of faulty plugin is stopped by probe() with one line naming the fault."""
import dataclasses

import numpy as np
import pytest

from patternboost import Problem, UserError
from patternboost.problem import probe


class Bits(Problem):
    """A well-behaved toy: 6-bit vectors, local search sets the bits, score = number of ones."""

    @dataclasses.dataclass
    class Params:
        pass

    vocab_size, max_length = 6, 6

    def initial(self, count, seed):
        return np.random.default_rng(seed).integers(0, 2, (count, 6), dtype=np.uint8)

    def local_search(self, batch, seed):
        return np.ones_like(batch)

    def score(self, batch):
        return batch.sum(axis=1).astype(np.float64)

    def encode(self, batch):
        return [np.flatnonzero(row) for row in batch]

    def decode(self, sequences):
        out = np.zeros((len(sequences), 6), dtype=np.uint8)
        for row, seq in zip(out, sequences):
            row[np.asarray(seq, dtype=np.int64) % 6] = 1
        return out, np.array([bool(np.all(np.diff(seq) > 0)) for seq in sequences])


def first_token_decoder(sequences):
    """Fine on what encode() gives, but reads a first token that an empty sampled sequence lacks."""
    firsts = [int(seq[0]) for seq in sequences]
    return Bits().decode([np.arange(first, 6) for first in firsts])


def fault(**methods):
    return type("Faulty", (Bits,), methods)()


FAULTS = {
    "local_search() returned 1 objects, expected 2": fault(local_search=lambda self, b, s: b[1:]),
    "local_search() returned objects of shape (6,) and dtype float64": fault(
        local_search=lambda self, b, s: b.astype(np.float64)),
    "local_search() must return a numpy array": fault(local_search=lambda self, b, s: list(b)),
    "local_search() raised ZeroDivisionError": fault(local_search=lambda self, b, s: 1 / 0),
    "score() returned NaN": fault(score=lambda self, b: np.full(len(b), np.nan)),
    "score() must return a float array of shape (2,)": fault(score=lambda self, b: b.sum()),
    "encode() gave token 6, outside": fault(encode=lambda self, b: [np.arange(1, 7) for _ in b]),
    "encode() gave 7 tokens, more than max_length": fault(encode=lambda self, b: [np.zeros(7, int) for _ in b]),
    "encode() must return a list of 2 token arrays, got 1": fault(encode=lambda self, b: [np.arange(3)]),
    "decode(encode(x)) is not x": fault(decode=lambda self, s: (np.zeros((len(s), 6), np.uint8),
                                                                 np.ones(len(s), bool))),
    "decode() must return a pair": fault(decode=lambda self, s: np.zeros((len(s), 6), np.uint8)),
    "decode() of a malformed sequence raised IndexError": fault(decode=lambda self, s: first_token_decoder(s)),
    "canonical_key() must return one integer per object": fault(canonical_key=lambda self, b: np.zeros(len(b))),
    "verify() rejects an object that local_search() returned: nope": fault(
        verify=lambda self, o: (_ for _ in ()).throw(ValueError("nope"))),
    "verify() gives 5 but score() gives 6": fault(verify=lambda self, o: 5),
    "increasing is True but encode() returned a sequence not in increasing order": fault(
        increasing=True, encode=lambda self, b: [np.flatnonzero(row)[::-1] for row in b],
        decode=lambda self, s: Bits.decode(self, [np.sort(q) for q in s])),
    "separator must be a token (0 .. vocab_size - 1) of an increasing encoding, got 99": fault(
        increasing=True, separator=99),
    # A local search that keeps what it is given but does not repair it: the garbage a model can emit stays
    # invalid (here: an empty vector, which this verify() refuses), so the pool would fill with invalid objects.
    "verify() rejects what local_search() made of a malformed sequence: empty": fault(
        local_search=lambda self, b, s: b,
        verify=lambda self, o: Bits.verify(self, o) if o.any() else (_ for _ in ()).throw(ValueError("empty"))),
}


def test_a_well_behaved_plugin_passes():
    probe(Bits(), "bits.py:Bits")


@pytest.mark.parametrize("message", FAULTS)
def test_each_fault_is_one_line_naming_plugin_and_fault(message):
    with pytest.raises(UserError) as caught:
        probe(FAULTS[message], "mine.py:Faulty")
    text = str(caught.value)
    assert text.startswith("mine.py:Faulty: ") and message in text and "\n" not in text


def test_probe_runs_what_the_loop_will_run():
    assert "to_native() must give JSON-ready data" in probe_error(fault(to_native=lambda self, o: {1, 2}))
    assert "render() raised KeyError" in probe_error(fault(render=lambda self, o: {}["x"]))
    assert "decode() of a malformed sequence raised ValueError" in probe_error(fault(decode=fixed_buffer_decoder))
    # Flags given as 0/1, and fixed-length encodings as one 2-D array, are accepted.
    probe(fault(decode=lambda self, s: (Bits.decode(self, s)[0], [1] * len(s))), "ok")
    probe(fault(encode=lambda self, b: np.array([np.flatnonzero(row) for row in b])), "ok")
    probe(fault(increasing=True), "ok")  # flatnonzero lists a set in order


def fixed_buffer_decoder(self, sequences):
    """Fine up to max_length tokens; a model can emit one more before the block ends."""
    buffer = np.zeros((len(sequences), self.max_length), dtype=np.int64)
    for row, seq in zip(buffer, sequences):
        row[: len(seq)] = seq
    return Bits.decode(self, [row[: len(seq)] for row, seq in zip(buffer, sequences)])


def probe_error(problem):
    with pytest.raises(UserError) as caught:
        probe(problem, "mine.py:Faulty")
    return str(caught.value)


def test_a_slow_local_search_is_announced_before_the_run_starts(monkeypatch, capsys):
    monkeypatch.setattr("patternboost.problem.SLOW_SEARCH_S", 0.0)
    probe(Bits(), "bits.py:Bits")
    assert "bits.py:Bits: checking the problem before the run starts" in capsys.readouterr().err
    monkeypatch.setattr("patternboost.problem.SLOW_SEARCH_S", 60.0)
    probe(Bits(), "bits.py:Bits")
    assert capsys.readouterr().err == ""
