import numpy as np
import pytest
import torch

from patternboost.config import EngineConfig, TrainConfig
from patternboost.errors import UserError
from patternboost.model import GPT, GPTConfig, alibi_bias, alibi_slopes
from patternboost.sample import sample
from patternboost.tokens import BOS, EOS, PAD
from patternboost.train import Trainer, sequence_batches


def tiny(position="learned"):
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=12, block_size=10, n_layer=2, n_head=2, n_embd=32, position=position))


POSITIONS = ["learned", "rope", "alibi", "none"]
# Rows BOS 3 4 5 6 EOS: training inputs are 5 tokens long, half of block_size.
PATTERN = np.tile(np.array([BOS, 3, 4, 5, 6, EOS, PAD, PAD, PAD, PAD]), (32, 1))


@pytest.mark.parametrize("position", POSITIONS)
def test_shapes_and_cache_matches_full_forward(position):
    model = tiny(position).eval()
    idx = torch.randint(3, 12, (4, 9))
    logits, loss = model(idx, targets=idx)
    assert logits.shape == (4, 9, 12) and loss.ndim == 0
    caches = model.new_caches()
    stepwise = [model(idx[:, t:t + 1], caches=caches, start=t)[0] for t in range(9)]
    assert torch.allclose(torch.cat(stepwise, dim=1), logits, atol=1e-5)
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 11, dtype=torch.long))


@pytest.mark.parametrize("position", POSITIONS)
def test_cache_after_a_prompt_matches_full_forward(position):
    # A 4-token prompt in one call, then one token per call at offsets start = 4 .. 9.
    model = tiny(position).eval()
    idx = torch.randint(3, 12, (3, 10))
    full, _ = model(idx)
    caches = model.new_caches()
    steps = [model(idx[:, :4], caches=caches)[0]] + [model(idx[:, t:t + 1], caches=caches, start=t)[0]
                                                     for t in range(4, 10)]
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)


@pytest.mark.parametrize("position", ["learned", "alibi"])
def test_loss_falls_and_samples_learn_the_pattern(position):
    # Every training row is BOS 3 4 5 6 EOS: after training, samples reproduce it.
    rows = PATTERN
    model = tiny(position)
    trainer = Trainer(model, TrainConfig(lr=3e-3, warmup=0), torch.device("cpu"))
    source = sequence_batches(rows, 16, 0)
    first, _ = trainer.train(source, 0, 5)
    last, step = trainer.train(source, 5, 150)
    assert step == 150 and np.mean(last[-5:]) < np.mean(first) / 5
    out = sample(model, 20, 1.0, 0, 1, torch.device("cpu"))
    assert (out[:, :6] == rows[0, :6]).mean() > 0.9
    assert not np.isin(out[:, 1:], [BOS]).any()


def test_sampling_is_seeded():
    model = tiny()
    a = sample(model, 8, 1.0, 5, 3, torch.device("cpu"))
    b = sample(model, 8, 1.0, 5, 3, torch.device("cpu"))
    c = sample(model, 8, 1.0, 5, 4, torch.device("cpu"))
    assert (a == b).all() and not (a == c).all()


@pytest.mark.parametrize("position", ["learned", "rope", "alibi"])
def test_lengths_beyond_training_up_to_block_size(position):
    # Trained on 5-token inputs only, every kind runs on block_size (10) tokens and none past it:
    # learned positions are a table of block_size rows (those past 5 untrained), while rope and
    # alibi see only distances, so a window scored at an offset matches the same window at 0.
    model = tiny(position)
    Trainer(model, TrainConfig(lr=3e-3, warmup=0), torch.device("cpu")).train(sequence_batches(PATTERN, 8, 0), 0, 5)
    model.eval()
    idx = torch.randint(3, 12, (2, 10))
    assert torch.isfinite(model(idx)[0]).all()
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 11, dtype=torch.long))
    with pytest.raises(ValueError, match="block_size"):
        model(idx, start=1)
    shifted = torch.allclose(model(idx[:, :5], start=5)[0], model(idx[:, :5])[0], atol=1e-5)
    assert shifted == (position != "learned")
    if position == "learned":
        assert model.position.num_embeddings == 10


def test_alibi_slopes_follow_the_paper():
    # Power of two: 2^(-8h/H). Otherwise the slopes of the power of two below, then every other
    # slope of the next power of two (Press et al., 2022, and their reference code).
    assert alibi_slopes(8).tolist() == [2.0 ** -h for h in range(1, 9)]
    assert alibi_slopes(6).tolist() == [2.0 ** -h for h in (2, 4, 6, 8, 1, 3)]
    expected = [2.0 ** -h for h in range(1, 9)] + [2.0 ** -(h - 0.5) for h in range(1, 5)]
    assert torch.allclose(alibi_slopes(12), torch.tensor(expected))
    assert alibi_slopes(1).tolist() == [2.0 ** -8]


def test_alibi_bias_and_config():
    model = tiny("alibi")  # 2 heads: slopes 2^-4, 2^-8; a buffer, not a parameter or a checkpoint entry
    assert model.position is None and model.slopes.tolist() == [2.0 ** -4, 2.0 ** -8]
    assert "slopes" not in model.state_dict() and "slopes" not in dict(model.named_parameters())
    bias = alibi_bias(torch.tensor([0.5]), 1, 2)  # queries 1, 2 on keys 0, 1, 2
    assert bias.tolist() == [[[-0.5, 0.0, -float("inf")], [-1.0, -0.5, 0.0]]]
    config = EngineConfig()
    config.model.position = "alibi"
    config.validate()
    config.model.position = "sinusoidal"
    with pytest.raises(UserError, match="alibi"):
        config.validate()


@pytest.mark.slow  # compiling takes about a minute on 2 cores
def test_compiled_training_gives_the_same_losses_and_a_plain_checkpoint():
    rows = np.random.default_rng(0).integers(3, 20, (64, 12))
    runs = {}
    for compiled in (False, True):
        torch.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=20, block_size=12, n_layer=1, n_head=2, n_embd=16))
        trainer = Trainer(model, TrainConfig(compile=compiled, warmup=0), torch.device("cpu"))
        runs[compiled] = trainer.train(sequence_batches(rows, 16, 0), 0, 5)[0], model.state_dict()
    assert np.allclose(runs[False][0], runs[True][0], atol=1e-5)
    assert list(runs[False][1]) == list(runs[True][1])  # no _orig_mod. prefix: resumes with compile on or off
