"""Prompt-conditioned decoding: greedy and beam search against plain full-forward references."""
import itertools

import numpy as np
import pytest
import torch

from patternboost.model import GPT, GPTConfig
from patternboost.sample import beam_search, greedy
from patternboost.tokens import BOS, EOS, PAD

CPU = torch.device("cpu")


def random_model(position, vocab_size=12, block_size=12):
    torch.manual_seed(1)
    model = GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=2, n_head=2, n_embd=32,
                          position=position)).eval()
    with torch.no_grad():  # sharper than the initialisation, so that EOS and ties actually matter
        model.head.weight.mul_(40)
    return model


@torch.no_grad()
def log_probs(model, sequence):
    """Log-probability of each next token of `sequence` under a full forward pass, PAD and BOS excluded."""
    logits, _ = model(torch.tensor([sequence]))
    logits = logits[0].float()
    logits[:, PAD] = logits[:, BOS] = -float("inf")
    return torch.log_softmax(logits, dim=-1)


def naive_greedy(model, prompt, max_new):
    sequence = list(prompt)
    for _ in range(min(max_new, model.config.block_size - len(prompt))):
        token = int(log_probs(model, sequence)[-1].argmax())
        if token == EOS:
            return sequence[len(prompt):], True
        sequence.append(token)
    return sequence[len(prompt):], False


@pytest.mark.parametrize("position", ["learned", "rope", "alibi"])
def test_greedy_matches_a_full_forward_loop_for_prompts_of_any_length(position):
    model = random_model(position)
    rng = np.random.default_rng(0)
    prompts = [np.array([BOS, *rng.integers(3, 12, length)]) for length in (1, 3, 3, 5, 2, 5)]
    answers, ended = greedy(model, prompts, 6, CPU)
    for prompt, answer, end in zip(prompts, answers, ended):
        expected, expected_end = naive_greedy(model, prompt, 6)
        assert list(answer) == expected and end == expected_end


def test_beam_search_finds_the_most_likely_answers():
    """Against every possible answer of up to 3 tokens over a 2-token alphabet, ranked by a full forward pass."""
    model = random_model("learned", vocab_size=5, block_size=8)
    prompt = np.array([BOS, 3, 4, 3])
    candidates = []
    for length in range(4):
        for answer in itertools.product((3, 4), repeat=length):
            sequence = [*prompt, *answer, EOS]
            logp = log_probs(model, sequence[:-1])
            total = sum(float(logp[len(prompt) - 1 + i, token]) for i, token in enumerate([*answer, EOS]))
            candidates.append((list(answer), total))
    candidates.sort(key=lambda c: -c[1])
    found = beam_search(model, prompt, width=16, max_new=4, device=CPU)
    assert [list(a) for a, _ in found[:5]] == [a for a, _ in candidates[:5]]
    assert np.allclose([s for _, s in found[:5]], [s for _, s in candidates[:5]], atol=1e-4)


def test_beam_of_width_one_is_greedy():
    model = random_model("rope")
    for seed in range(4):
        prompt = np.array([BOS, *np.random.default_rng(seed).integers(3, 12, 3)])
        (answer,), (ended,) = greedy(model, [prompt], 8, CPU)
        best = beam_search(model, prompt, width=1, max_new=8, device=CPU)
        if ended:  # width 1 keeps the top token each step: greedy, until its EOS
            assert len(best) == 1 and list(best[0][0]) == list(answer)
        else:
            assert best == []


def test_batched_beam_search_answers_each_prompt_as_alone():
    from patternboost.sample import beam_search_batch

    model = random_model("alibi")
    rng = np.random.default_rng(3)
    prompts = [np.array([BOS, *rng.integers(3, 12, length)]) for length in (3, 1, 3, 4, 3)]
    together = beam_search_batch(model, prompts, 4, 6, CPU)
    for prompt, answers in zip(prompts, together):
        alone = beam_search(model, prompt, width=4, max_new=6, device=CPU)
        assert [list(a) for a, _ in answers] == [list(a) for a, _ in alone]
        assert np.allclose([s for _, s in answers], [s for _, s in alone], atol=1e-4)


def test_increasing_sampling_gives_well_formed_sets_from_an_untrained_model():
    """An untrained model emits tokens in any order; masked to increasing ones every row is a set in order, and
    the same seed gives the same rows."""
    from patternboost.sample import sample
    from patternboost.tokens import N_SPECIAL, unpack

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=40 + N_SPECIAL, block_size=30, n_layer=1, n_head=2, n_embd=16))
    free = unpack(sample(model, 200, 1.0, 0, 7, "cpu"))[0]
    assert sum(bool(np.any(np.diff(s) <= 0)) for s in free) > 50  # the unmasked model breaks the order
    rows = sample(model, 200, 1.0, 0, 7, "cpu", increasing=True)
    sequences, well_formed = unpack(rows)
    assert all(np.all(np.diff(s) > 0) for s in sequences)
    ended = np.array([len(s) < 28 for s in sequences])  # 28 tokens fill the block: no room for EOS
    assert ended.mean() > 0.9 and well_formed[ended].all()
    assert np.array_equal(rows, sample(model, 200, 1.0, 0, 7, "cpu", increasing=True))


def test_nucleus_sampling_cuts_the_tail():
    """top_p near 0 keeps only the likeliest token (what top_k = 1 does, whatever the seed); top_p = 1 changes
    nothing; in between, fewer distinct tokens are drawn than without a cut."""
    from patternboost.sample import sample
    from patternboost.tokens import N_SPECIAL

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=40 + N_SPECIAL, block_size=12, n_layer=1, n_head=2, n_embd=16))
    tiny = sample(model, 50, 1.0, 0, 1, "cpu", top_p=1e-6)
    assert np.array_equal(tiny, sample(model, 50, 1.0, 1, 2, "cpu"))  # top_k = 1, another seed
    assert np.array_equal(sample(model, 50, 1.0, 0, 3, "cpu", top_p=1.0), sample(model, 50, 1.0, 0, 3, "cpu"))
    first = [len(np.unique(sample(model, 400, 1.0, 0, 4, "cpu", top_p=p)[:, 1])) for p in (0.3, 1.0)]
    assert first[0] < first[1]


def test_edit_changes_up_to_k_tokens_and_keeps_the_frame():
    """Only problem tokens change, `edits` of them per row (fewer in a shorter row), into other problem tokens; the
    length, BOS, EOS and padding stay; an increasing row stays a set in order; a seed repeats."""
    from patternboost.sample import edit
    from patternboost.tokens import N_SPECIAL, pack, unpack

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=40 + N_SPECIAL, block_size=14, n_layer=1, n_head=2, n_embd=16))
    rng = np.random.default_rng(0)
    rows = pack([np.sort(rng.choice(40, rng.integers(1, 12), replace=False)) for _ in range(300)], 12)
    edited = edit(model, rows, 3, 1.0, 5, "cpu")
    changed = edited != rows
    lengths = (rows >= N_SPECIAL).sum(axis=1)
    assert np.array_equal(changed.sum(axis=1), np.minimum(lengths, 3))
    assert np.all(rows[changed] >= N_SPECIAL) and np.all(edited[changed] >= N_SPECIAL)
    assert np.array_equal(edit(model, rows, 3, 1.0, 5, "cpu"), edited)
    assert not np.array_equal(edit(model, rows, 3, 1.0, 6, "cpu"), edited)
    ordered = edit(model, rows, 1, 1.0, 5, "cpu", increasing=True)
    assert all(np.all(np.diff(s) > 0) for s in unpack(ordered)[0])
    assert np.array_equal((ordered != rows).any(axis=1), lengths >= 1)
    assert any(np.any(np.diff(s) <= 0) for s in unpack(edit(model, rows, 1, 1.0, 5, "cpu"))[0])


def test_edit_draws_changes_in_proportion_to_the_models_probabilities():
    """One row edited once, 6,000 times over: each (position, token) change is drawn about as often as its
    probability under a forward pass (original tokens excluded) predicts; near temperature 0 the likeliest."""
    from patternboost.sample import edit
    from patternboost.tokens import N_SPECIAL

    model = random_model("learned", vocab_size=3 + N_SPECIAL, block_size=6)
    model.head.weight.data.div_(20)  # spread the probabilities: every change is drawn now and then
    row = np.array([BOS, 3, 5, 4, EOS, PAD])
    with torch.no_grad():
        probs = torch.softmax(model(torch.tensor(row[None, :-1]))[0][0].float(), dim=-1)[:, N_SPECIAL:]
    expected = {}
    for position in (1, 2, 3):
        for token in range(N_SPECIAL, N_SPECIAL + 3):
            if token != row[position]:
                expected[position, token] = float(probs[position - 1, token - N_SPECIAL])
    total = sum(expected.values())
    edited = edit(model, np.tile(row, (6000, 1)), 1, 1.0, 0, "cpu")
    where = np.argwhere(edited != row)
    counts = {key: 0 for key in expected}
    for r, position in where:
        counts[int(position), int(edited[r, position])] += 1
    assert len(where) == 6000
    for key, p in expected.items():
        share = p / total
        assert abs(counts[key] / 6000 - share) < 4 * np.sqrt(share * (1 - share) / 6000) + 1e-3, key
    cold = edit(model, row[None, :], 1, 1e-4, 0, "cpu")[0]
    position, token = max(expected, key=expected.get)
    assert cold[position] == token and np.sum(cold != row) == 1


def test_a_separator_starts_the_order_again_in_sampling_and_in_edits():
    """Rows of several sets, each ended by a separator (a graph's neighbour lists): from an untrained model every
    sampled set is in order, and edits never move a separator and keep every set a set in order."""
    from patternboost.problem import in_order
    from patternboost.sample import edit, sample
    from patternboost.tokens import N_SPECIAL, pack, unpack

    torch.manual_seed(0)
    separator = 12  # problem token
    model = GPT(GPTConfig(vocab_size=13 + N_SPECIAL, block_size=30, n_layer=1, n_head=2, n_embd=16))
    drawn = unpack(sample(model, 300, 1.0, 0, 7, "cpu", increasing=True, separator=separator + N_SPECIAL))[0]
    assert all(in_order(s, separator) for s in drawn) and sum(separator in s for s in drawn) > 100
    assert not all(in_order(s) for s in drawn)  # the order does start again
    rng = np.random.default_rng(0)
    sets = [[np.sort(rng.choice(12, rng.integers(1, 5), replace=False)) for _ in range(4)] for _ in range(200)]
    rows = pack([np.concatenate([np.append(part, separator) for part in parts])[:-1] for parts in sets], 28)
    edited = edit(model, rows, 3, 1.0, 2, "cpu", increasing=True, separator=separator + N_SPECIAL)
    assert np.array_equal(edited == separator + N_SPECIAL, rows == separator + N_SPECIAL)
    assert all(in_order(s, separator) for s in unpack(edited)[0])
    assert ((edited != rows).sum(axis=1) > 0).all()
