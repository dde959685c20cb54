"""The built-in math tasks: their data is right, their metrics mean what they say, and each passes the probe."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patternboost import load_problem
from patternboost.encodings import IntegerEncoding, Vocabulary
from patternboost.tasks import probe_task
from problems.integer_task import IntegerTokens, draw_operands

SMALL = {"gcd": {"test_size": 50, "per_outcome": 3}, "modular_mul": {"test_size": 50},
         "modular_add": {"test_size": 50}, "addition": {"test_per_length": 5},
         "multiplication": {"test_per_length": 5, "test_digits": 8}, "eigenvalues": {"test_size": 30}}


def perfect(task, sets):
    return {name: (p, a, list(a), [True] * len(a)) for name, (p, a) in sets.items()}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_task_passes_the_probe(name):
    probe_task(load_problem(name, **SMALL[name]), name)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 3000), st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=8))
def test_integer_tokens_agree_with_the_encoding(base, values):
    tokens = IntegerTokens(base)
    vocab = Vocabulary(IntegerEncoding(base).symbols())
    fast = tokens.encode(np.array(values, dtype=np.int64))
    for value, ids, big in zip(values, fast, tokens.encode_big(values)):
        assert ids.tolist() == vocab.to_ids(IntegerEncoding(base).encode(value)) == big.tolist()
        assert tokens.parse(ids) == value
    for value, ids in zip(values, tokens.encode(np.array(values, dtype=np.int64), reverse=True)):
        assert tokens.parse(ids, reverse=True) == value


def test_integer_parse_rejects_what_is_not_one_integer():
    tokens = IntegerTokens(10)
    for bad in ([], [0], [2, 3], [0, 3, 1, 4], [0, 12], [-2, 5], [0, -1]):
        with pytest.raises(ValueError):
            tokens.parse(np.array(bad, dtype=np.int64))


def test_log_uniform_operands_favour_small_numbers():
    rng = np.random.default_rng(0)
    uniform, log = draw_operands(rng, 20000, 10**6, "uniform"), draw_operands(rng, 20000, 10**6, "log-uniform")
    assert uniform.min() >= 1 and log.min() >= 1 and uniform.max() <= 10**6 and log.max() <= 10**6
    assert np.median(log) < 2000 and np.median(uniform) > 400000  # log-uniform on [1, 1e6]: median about 1e3


def values(task, arrays):
    return [task.tokens.parse(a) for a in arrays]


@pytest.mark.parametrize("outcomes", ["natural", "log-uniform", "uniform"])
def test_gcd_examples_are_right_and_outcomes_follow_their_law(outcomes):
    task = load_problem("gcd", base=30, outcomes=outcomes, operands="log-uniform")
    prompts, answers = task.examples(4000, 1)
    pairs = [(task.tokens.encoding.decode(task.tokens.vocab.to_symbols(p))[0], p) for p in prompts]
    gcds = values(task, answers)
    for (first, prompt), k in zip(pairs, gcds):
        length = len(task.tokens.encode(np.array([first]))[0])
        second = task.tokens.parse(prompt[length:])
        assert np.gcd(first, second) == k and 1 <= first <= 10**6 and 1 <= second <= 10**6
    gcds = np.array(gcds)
    if outcomes != "natural":
        assert gcds.max() <= 100
        ratio = (gcds == 1).mean() / (gcds == 2).mean()
        assert (1.6 < ratio < 2.5) if outcomes == "log-uniform" else (0.6 < ratio < 1.6)


def test_gcd_metrics_count_correct_gcd_and_unparsable_answers():
    task = load_problem("gcd", **SMALL["gcd"])
    sets = task.test_sets(0)
    assert sorted(values(task, sets["outcomes"][1])) == sorted(list(range(1, 101)) * 3)
    metrics = task.evaluate(perfect(task, sets))
    assert metrics["accuracy"] == 1 and metrics["correct_gcd"] == 100 and metrics["gcd_correct"] == list(range(1, 101))
    one = task.tokens.encode(np.array([1]))[0]
    always_one = {name: (p, a, [one] * len(a), [True] * len(a)) for name, (p, a) in sets.items()}
    metrics = task.evaluate(always_one)
    assert metrics["gcd_correct"] == [1] and metrics["modal_prediction"]["7"] == 1
    garbled = {name: (p, a, [np.array([5, 5])] * len(a), [True] * len(a)) for name, (p, a) in sets.items()}
    metrics = task.evaluate(garbled)
    assert metrics["accuracy"] == 0 and metrics["unparsable"] == 50 and metrics["outcomes_unparsable"] == 300


@pytest.mark.parametrize("name, op", [("modular_mul", lambda a, b: a * b), ("modular_add", lambda a, b: a + b)])
def test_modular_answers(name, op):
    task = load_problem(name, modulus=13, base=7)
    prompts, answers = task.examples(300, 2)
    for prompt, answer in zip(prompts, answers):
        a, used = task.tokens.encoding.decode(task.tokens.vocab.to_symbols(prompt))
        b = task.tokens.parse(prompt[used:])
        assert task.tokens.parse(answer) == op(a, b) % 13
    assert task.max_answer == task.tokens.length(12)


@pytest.mark.parametrize("name, reverse", [("addition", True), ("addition", False), ("multiplication", True)])
def test_long_arithmetic_answers_and_lengths(name, reverse):
    task = load_problem(name, reverse=reverse, **SMALL[name])
    sets = task.test_sets(0)
    limit = task.params.test_digits
    assert sorted(sets) == sorted(f"length_{n}" for n in range(1, limit + 1))
    for n in (1, limit):
        for prompt, answer in zip(*sets[f"length_{n}"]):
            signs = np.flatnonzero(prompt < 2)  # sign tokens start the two operands
            a, b = task.tokens.parse(prompt[: signs[1]], reverse), task.tokens.parse(prompt[signs[1]:], reverse)
            assert len(str(a)) == n and task.tokens.parse(answer, reverse) == task.combine(a, b)
    long_prompts, _ = task.long_examples(50, 1)
    firsts = [len(p[: np.flatnonzero(p < 2)[1]]) - 1 for p in long_prompts]
    assert min(firsts) > task.params.train_digits and max(firsts) <= limit


def test_long_arithmetic_metrics_by_length():
    task = load_problem("addition", train_digits=2, test_digits=4, test_per_length=3)
    sets = task.test_sets(0)
    results = perfect(task, sets)
    p, a, _, ended = results["length_4"]
    results["length_4"] = (p, a, [np.zeros(0, dtype=np.int64)] * 3, ended)  # length 4 all unparsable
    metrics = task.evaluate(results)
    assert metrics["accuracy_by_length"] == {"1": 1.0, "2": 1.0, "3": 1.0, "4": 0.0}
    assert metrics["accuracy"] == 1 and metrics["accuracy_beyond"] == 0.5 and metrics["generalizes_to"] == 3
    assert metrics["unparsable"] == 3 and metrics["token_accuracy_by_length"]["4"] == 0
    assert metrics["token_accuracy_by_length"]["3"] == 1


def test_eigenvalue_answers_and_tolerance_metrics():
    task = load_problem("eigenvalues", **SMALL["eigenvalues"])
    prompts, answers = task.test_sets(0)["test"]
    for prompt, answer in zip(prompts[:5], answers[:5]):
        matrix = np.array(task.matrix.decode_all(task.vocab.to_symbols(prompt)))
        assert np.allclose(matrix, matrix.T) and np.abs(matrix).max() <= 10
        assert np.allclose(task.parse(answer), np.linalg.eigvalsh(matrix)[::-1], rtol=5e-3, atol=1e-2)
    metrics = task.evaluate(perfect(task, {"test": (prompts, answers)}))
    assert metrics["accuracy"] == metrics["exact_accuracy"] == 1 and metrics["wrong_parsable"] == 0
    # every eigenvalue 3% too large: right at 5%, wrong at 2%, and each eigenvalue right one by one
    off = [np.array(task.vocab.to_ids(task.vector.encode(task.parse(a) * 1.03))) for a in answers]
    metrics = task.evaluate({"test": (prompts, answers, off, [True] * len(off))})
    assert metrics["tolerance_accuracy"]["5%"] == 1 and metrics["tolerance_accuracy"]["2%"] == 0
    assert metrics["accuracy"] == 1 and metrics["exact_accuracy"] == 0
    off = [np.array(task.vocab.to_ids(task.vector.encode(task.parse(a) * 1.5))) for a in answers]
    metrics = task.evaluate({"test": (prompts, answers, off, [True] * len(off))})
    assert metrics["accuracy"] == 0 and metrics["wrong_parsable"] == 30
    assert set(metrics["accuracy_by_condition"].values()) == {0.0}
    short = [a[:-3] for a in answers]
    assert task.evaluate({"test": (prompts, answers, short, [True] * 30)})["unparsable"] == 30


@pytest.mark.parametrize("scheme", ["P10", "P1000", "B1999", "FP15"])
def test_eigenvalue_batches_match_the_value_by_value_encoding(scheme):
    task = load_problem("eigenvalues", encoding=scheme, size=3)
    matrices = task.draw(40, 3)
    prompts, answers = task.encode(matrices)
    for matrix, prompt, answer in zip(matrices, prompts, answers):
        symbols = task.matrix.encode(matrix)
        assert prompt.tolist() == task.vocab.to_ids(symbols)
        written = np.array(task.matrix.decode_all(symbols))
        assert answer.tolist() == task.vocab.to_ids(task.vector.encode(np.linalg.eigvalsh(written)[::-1]))
