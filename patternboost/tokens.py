"""Framing of problem token sequences for the model.

Problem tokens 0 .. V-1 become model tokens 3 .. V+2; a row is
BOS, tokens..., EOS, PAD... of fixed width max_length + 2.
"""
import numpy as np

PAD, BOS, EOS = 0, 1, 2
N_SPECIAL = 3


def separator_of(problem):
    """The problem's set separator (problem.py) as a model token, or None."""
    separator = getattr(problem, "separator", None)
    return None if separator is None else separator + N_SPECIAL


def pack(sequences, max_length):
    rows = np.full((len(sequences), max_length + 2), PAD, dtype=np.int64)
    rows[:, 0] = BOS
    for i, seq in enumerate(sequences):
        if len(seq) > max_length:
            raise ValueError(f"encoded object has {len(seq)} tokens, more than max_length = {max_length}")
        rows[i, 1 : len(seq) + 1] = np.asarray(seq) + N_SPECIAL
        rows[i, len(seq) + 1] = EOS
    return rows


def unpack(rows):
    """Model rows (BOS first) -> (problem token sequences, well_formed flags).

    A row is cut at its first EOS; a row with no EOS, or with BOS/PAD inside, is
    not well formed and keeps only its problem tokens.
    """
    sequences, well_formed = [], np.ones(len(rows), dtype=bool)
    for i, row in enumerate(np.asarray(rows)[:, 1:]):
        ends = np.flatnonzero(row == EOS)
        if len(ends):
            row = row[: ends[0]]
        else:
            well_formed[i] = False
        if np.any(row < N_SPECIAL):
            well_formed[i] = False
            row = row[row >= N_SPECIAL]
        sequences.append(row - N_SPECIAL)
    return sequences, well_formed
