"""Eigenvalues of symmetric matrices (LAWT, Charton arXiv 2112.01898): a symmetric n x n matrix with entries
uniform in [-max_entry, max_entry] -> its n eigenvalues, largest first.

Reals are written with 3 significant digits in one of LAWT's encodings (P10, P1000, B1999, FP15; see
patternboost.encodings). A prediction is correct at tolerance t when its relative L1 error
||predicted - true||_1 / ||true||_1 is at most t; accuracy is reported at `tolerance` (default 5%) and at
5/2/1/0.5%. The failure analysis looks at the predictions that miss `tolerance`: how many of their eigenvalues
are right one by one (within t times the spectral radius), and how accuracy varies with the smallest gap between
eigenvalues and with the condition number of the input.
"""
import dataclasses
import itertools
import typing

import numpy as np

from patternboost import Task, parsed
from patternboost.encodings import FloatEncoding, MatrixEncoding, VectorEncoding, Vocabulary

TOLERANCES = (0.05, 0.02, 0.01, 0.005)
MAX_EXPONENT = 10  # |values| below 1e-10 round to 0; entries and eigenvalues stay far below 1e10


class Eigenvalues(Task):
    """Sorted eigenvalues of a random symmetric matrix, to a tolerance."""

    @dataclasses.dataclass
    class Params:
        size: int = 5
        max_entry: float = 10.0
        encoding: str = "P1000"  # P10 | P1000 | B1999 | FP15
        tolerance: float = 0.05
        test_size: int = 2000

    name = "eigenvalues"
    settings: typing.ClassVar[dict] = {"train.steps": 500, "train.batch_size": 64, "train.lr": 5e-4,
                                       "loop.rounds": 10, "model.n_embd": 128}

    def __init__(self, params=None):
        super().__init__(params)
        p = self.params
        if not 1 <= p.size <= 20:
            raise ValueError(f"size must be in 1 .. 20, got {p.size}")
        if not 1e-6 <= p.max_entry <= 1e6:  # 3-digit numbers with exponents -10 .. 10
            raise ValueError(f"max_entry must be in [1e-6, 1e6], got {p.max_entry}")
        if not 0 < p.tolerance < 1:
            raise ValueError(f"tolerance must be in (0, 1), got {p.tolerance}")
        if p.test_size < 1:
            raise ValueError("test_size must be at least 1")
        self.number = FloatEncoding(p.encoding, 3, MAX_EXPONENT)  # ValueError names the schemes
        self.matrix, self.vector = MatrixEncoding(self.number, p.size), VectorEncoding(self.number, p.size)
        self.vocab = Vocabulary([*self.matrix.symbols(), *self.vector.symbols()])
        self.ids = self.id_tables()
        self.vocab_size = len(self.vocab)
        self.max_prompt = 2 + p.size * p.size * self.number.length
        self.max_answer = 1 + p.size * self.number.length

    def id_tables(self):
        """Arrays from mantissa / exponent / digit to token id, for number_ids(); -1 where no symbol exists."""
        def table(names):
            return np.array([self.vocab.id_of(x) if x in self.vocab else -1 for x in names])
        mantissas, exponents = range(-999, 1000), range(-MAX_EXPONENT, MAX_EXPONENT + 1)
        return {"sign": table(["+", "-"]), "digit": table(str(d) for d in range(10)),
                "mantissa": table(str(m) for m in range(1000)), "signed": table(f"N{m}" for m in mantissas),
                "exponent": table(f"E{e}" for e in exponents),
                "fp15": np.array([table(f"FP{m}E{e}" for e in exponents) for m in mantissas])}

    def draw(self, count, seed):
        """Symmetric matrices, entries uniform in [-max_entry, max_entry] on and above the diagonal."""
        rng, n = np.random.default_rng(seed), self.params.size
        upper = np.triu(rng.uniform(-self.params.max_entry, self.params.max_entry, size=(count, n, n)))
        return upper + np.triu(upper, 1).transpose(0, 2, 1)

    def encode(self, matrices):
        """Prompts from the matrices as written (3 digits), answers from the eigenvalues of what is written.

        Vectorised over the batch (FloatEncoding.split_array and id tables), so that generating data keeps well
        ahead of training; tests check it against the encodings' own value-by-value encode()."""
        count, n = len(matrices), self.params.size
        mantissas, exponents = self.number.split_array(matrices)
        written = mantissas * np.power(10.0, exponents)
        eigenvalues = np.linalg.eigvalsh(written)[:, ::-1]
        shape = [self.vocab.id_of(f"R{n}"), self.vocab.id_of(f"C{n}")]
        prompts = np.concatenate([np.tile(shape, (count, 1)), self.number_ids(mantissas, exponents)], axis=1)
        answers = np.concatenate([np.full((count, 1), self.vocab.id_of(f"V{n}")),
                                  self.number_ids(*self.number.split_array(eigenvalues))], axis=1)
        return list(prompts), list(answers)

    def number_ids(self, mantissas, exponents):
        """Token ids of numbers m * 10^e, one row per batch item: (count, ...) -> (count, numbers * length)."""
        m, e = mantissas.reshape(len(mantissas), -1), exponents.reshape(len(exponents), -1) + MAX_EXPONENT
        ids, scheme, magnitude = self.ids, self.number.scheme, np.abs(m)
        if scheme == "FP15":
            parts = [ids["fp15"][m + 999, e]]
        elif scheme == "B1999":
            parts = [ids["signed"][m + 999], ids["exponent"][e]]
        else:
            sign = ids["sign"][(m < 0).astype(np.int64)]
            digits = ([ids["mantissa"][magnitude]] if scheme == "P1000" else
                      [ids["digit"][magnitude // 100], ids["digit"][magnitude // 10 % 10], ids["digit"][magnitude % 10]])
            parts = [sign, *digits, ids["exponent"][e]]
        return np.stack(parts, axis=-1).reshape(len(m), -1)

    def examples(self, count, seed):
        return self.encode(self.draw(count, seed))

    def test_sets(self, seed):
        return {"test": self.examples(self.params.test_size, seed)}

    def parse(self, tokens):
        values = self.vector.decode_all(self.vocab.to_symbols(tokens))
        if len(values) != self.params.size:
            raise ValueError(f"{len(values)} eigenvalues, expected {self.params.size}")
        return np.array(values)

    def evaluate(self, results):
        prompts, answers, predictions, ended = results["test"]
        truth = np.array([self.parse(a) for a in answers])
        values = parsed(predictions, ended, self.parse)
        ok = np.array([v is not None for v in values])
        predicted = np.array([v if v is not None else np.full(self.params.size, np.nan) for v in values])
        scale = np.maximum(np.abs(truth).sum(axis=1), 1e-12)
        error = np.where(ok, np.abs(predicted - truth).sum(axis=1) / scale, np.inf)
        within = {f"{t:.1%}".replace(".0%", "%"): float(np.mean(error <= t)) for t in TOLERANCES}
        exact = float(np.mean([v is not None and np.array_equal(v, t) for v, t in zip(values, truth)]))
        metrics = {"accuracy": float(np.mean(error <= self.params.tolerance)), "exact_accuracy": exact,
                   "tolerance_accuracy": within, "unparsable": int((~ok).sum())}
        return metrics | self.failures(prompts, truth, predicted, error, ok)

    def failures(self, prompts, truth, predicted, error, ok):
        """Failure analysis of the predictions that miss the tolerance."""
        t = self.params.tolerance
        matrices = np.array([self.matrix.decode_all(self.vocab.to_symbols(p)) for p in prompts])
        radius = np.maximum(np.abs(truth).max(axis=1), 1e-12)
        gap = np.diff(-truth, axis=1).min(axis=1) / radius if self.params.size > 1 else np.ones(len(truth))
        smallest = np.abs(np.linalg.eigvalsh(matrices)).min(axis=1)
        condition = np.abs(truth).max(axis=1) / np.maximum(smallest, 1e-12)
        wrong = ok & (error > t)
        right_one_by_one = np.abs(predicted - truth) <= t * radius[:, None]
        correct = error <= t
        return {"wrong_parsable": int(wrong.sum()),
                "wrong_eigenvalues_right": float(right_one_by_one[wrong].mean()) if wrong.any() else None,
                "accuracy_by_min_gap": by_quartile(gap, correct, "gap"),
                "accuracy_by_condition": by_quartile(np.log10(condition), correct, "log10 cond"),
                "error_vs_gap_rank_correlation": rank_correlation(error[ok], gap[ok]),
                "error_vs_condition_rank_correlation": rank_correlation(error[ok], condition[ok])}


def by_quartile(values, correct, label):
    """Accuracy in each quarter of the inputs sorted by `values`, keyed by the quarter's range."""
    edges = np.quantile(values, [0, 0.25, 0.5, 0.75, 1])
    out = {}
    for low, high in itertools.pairwise(edges):
        inside = (values >= low) & (values <= high)
        out[f"{label} {low:.3g}..{high:.3g}"] = float(correct[inside].mean()) if inside.any() else 0.0
    return out


def rank_correlation(x, y):
    """Spearman's rank correlation (ties broken by order); None for fewer than 3 points or a constant side."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])
