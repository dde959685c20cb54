"""Continuous sequences on the shared transformer: the mixture density, its likelihood, sampling, and the token
model left as it was."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from patternboost.mixture import SCALE_FLOOR, log_likelihood, mixture_log_prob, sample, sample_von_mises
from patternboost.model import GPT, GPTConfig
from problems.jets.events import multiplicity_fractions
from problems.jets.preprocess import PERIODIC, Preprocessing
from problems.jets.toy import toy_events

POSITIONS = ["learned", "rope", "alibi", "none"]
MODELLED = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]], dtype=bool)  # as for jets: mu+, mu-, jet rows


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny tensors: threads only contend (on a busy machine many times slower), so these tests use one core.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def continuous(position="learned", n_layer=1, block_size=6, components=3, seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=0, block_size=block_size, n_layer=n_layer, n_head=2, n_embd=32, position=position,
                         inputs="continuous", n_features=4, n_types=4, components=components, periodic=PERIODIC))


def events(count=6, length=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(count, length, 4, generator=generator)
    lengths = torch.randint(2, length + 1, (count,), generator=generator)
    return x, lengths


# ---- the token model is unchanged by the trunk refactor -------------------------------------------------------

TOKEN_KEYS = ["embed.weight", "position.weight", "blocks.0.ln1.weight", "blocks.0.ln1.bias",
              "blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias", "blocks.0.attn.proj.weight",
              "blocks.0.attn.proj.bias", "blocks.0.ln2.weight", "blocks.0.ln2.bias", "blocks.0.mlp.0.weight",
              "blocks.0.mlp.0.bias", "blocks.0.mlp.2.weight", "blocks.0.mlp.2.bias", "ln_f.weight", "ln_f.bias",
              "head.weight"]
# (loss, sum of |logits|) of a fixed-seed 2-layer token model on fixed tokens, recorded before the refactor.
TOKEN_OUTPUTS = {"learned": (2.0965635776519775, 27.605260848999023), "rope": (1.9717142581939697, 25.88376235961914),
                 "alibi": (1.971871256828308, 25.85950469970703), "none": (1.971688151359558, 25.888198852539062)}


def test_token_model_keys_unchanged():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=12, block_size=10, n_layer=1, n_head=2, n_embd=32))
    assert list(model.state_dict()) == TOKEN_KEYS
    assert model.embed.weight is model.head.weight


@pytest.mark.parametrize("position", POSITIONS)
def test_token_model_outputs_unchanged(position):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=12, block_size=10, n_layer=2, n_head=2, n_embd=32, position=position)).eval()
    idx = (torch.arange(18).view(2, 9) * 5 + 3) % 12
    logits, loss = model(idx, targets=idx)
    assert math.isclose(loss.item(), TOKEN_OUTPUTS[position][0], rel_tol=1e-5)
    assert math.isclose(logits.abs().sum().item(), TOKEN_OUTPUTS[position][1], rel_tol=1e-5)
    assert torch.equal(model.head(model.trunk(model.embed(idx))), logits)


# ---- the mixture density against hand computations ------------------------------------------------------------

def test_single_gaussian_and_von_mises_match_hand_computation():
    x = torch.tensor([0.3, 2.9])  # feature 0 plain, feature 1 an angle
    loc = torch.tensor([[-0.2], [-3.0]])
    scale = torch.tensor([[0.7], [0.5]])
    logits = torch.zeros(2, 1)
    got = mixture_log_prob(x, logits, loc, scale, torch.tensor([False, True]))
    gaussian = -0.5 * (0.5 / 0.7) ** 2 - math.log(0.7 * math.sqrt(2 * math.pi))
    kappa = 1 / 0.5 ** 2
    von_mises = kappa * math.cos(2.9 + 3.0) - math.log(2 * math.pi * float(np.i0(kappa)))
    assert torch.allclose(got, torch.tensor([gaussian, von_mises]), atol=1e-5)
    reference = torch.distributions.VonMises(torch.tensor(-3.0), torch.tensor(kappa)).log_prob(torch.tensor(2.9))
    assert math.isclose(got[1].item(), reference.item(), abs_tol=1e-5)


def test_two_component_mixture_matches_hand_computation():
    x = torch.tensor([1.1])
    logits, loc, scale = torch.tensor([[0.4, -0.9]]), torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.3]])
    weights = torch.softmax(logits, -1)[0].tolist()
    density = sum(w * math.exp(-0.5 * ((1.1 - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
                  for w, m, s in zip(weights, [0.0, 2.0], [1.0, 0.3]))
    got = mixture_log_prob(x, logits, loc, scale, torch.tensor([False]))
    assert math.isclose(got.item(), math.log(density), abs_tol=1e-5)


def test_densities_stay_finite_at_the_scale_floor():
    x = torch.tensor([0.0, math.pi])
    loc = torch.tensor([[1e-4], [-math.pi]])
    scale = torch.full((2, 1), SCALE_FLOOR, requires_grad=True)
    got = mixture_log_prob(x, torch.zeros(2, 1), loc, scale, torch.tensor([False, True]))
    got.sum().backward()
    assert torch.isfinite(got).all() and torch.isfinite(scale.grad).all()
    assert math.isclose(got[1].item(), 0.5 * math.log(1 / SCALE_FLOOR ** 2 / (2 * math.pi)), rel_tol=1e-3)


def test_von_mises_sampler_matches_its_distribution():
    generator = torch.Generator().manual_seed(0)
    for kappa in (0.0, 2.0, 1e6):
        draws = sample_von_mises(torch.full((20000,), 3.0), torch.full((20000,), kappa), generator)
        assert (draws > -math.pi).all() and (draws <= math.pi).all()
        resultant = torch.polar(torch.ones(20000, dtype=torch.float64), draws.double() - 3.0).mean()
        expected = 0.0 if kappa == 0 else torch.special.i1e(torch.tensor(kappa)) / torch.special.i0e(torch.tensor(kappa))
        assert abs(resultant.real.item() - float(expected)) < 0.02 and abs(resultant.imag.item()) < 0.02


# ---- the model: conditioning, gradients, stop terms -----------------------------------------------------------

def per_feature_log_prob(model, x):
    """(L, F) log p of each feature of one sequence x (1, L, F), all of it present."""
    h, _ = model(torch.cat((torch.zeros(1, 1, 4), x), dim=1))
    return mixture_log_prob(x, *model.head(h[:, :x.shape[1]], x), model.head.periodic)[0]


def test_features_are_conditioned_component_by_component_and_causally():
    model = continuous(n_layer=2).eval()
    x = torch.randn(1, 4, 4)
    jacobian = torch.autograd.functional.jacobian(lambda v: per_feature_log_prob(model, v), x)[:, :, 0]
    depends = jacobian.abs() > 0  # (t, j, t', k): does log p(x_t,j) move with x_t',k?
    for t in range(4):
        for j in range(4):
            for s in range(4):
                for k in range(4):
                    allowed = s < t or (s == t and k <= j)
                    assert depends[t, j, s, k] == allowed, (t, j, s, k)


def test_log_likelihood_is_the_sum_of_its_terms():
    model = continuous().eval()
    x, lengths = events()
    x[1, lengths[1]:] = float("nan")  # padding may be NaN, as in an events file
    result = log_likelihood(model, x, lengths, min_length=2, modelled=MODELLED)
    for b in range(len(x)):
        length = int(lengths[b])
        log_p = per_feature_log_prob(model, x[b:b + 1, :length].masked_fill(~torch.tensor(MODELLED[
            np.minimum(np.arange(length), 2)]), 0.0))
        expected = -(log_p * torch.tensor(MODELLED[np.minimum(np.arange(length), 2)])).sum(-1)
        assert torch.allclose(result.kinematic[b, :length], expected, atol=1e-5)
        assert (result.kinematic[b, length:] == 0).all()
    assert torch.isfinite(result.nll()).all()


def test_stop_terms_targets_and_the_max_length_mask():
    model = continuous().eval()
    with torch.no_grad():
        model.head.stop.weight.zero_()
        model.head.stop.bias.fill_(0.3)  # every stop logit is 0.3
    x, _ = events(count=2)
    lengths = torch.tensor([2, 5])
    result = log_likelihood(model, x, lengths, min_length=2, max_length=5)
    go, end = -math.log(1 - torch.sigmoid(torch.tensor(0.3)).item()), -math.log(torch.sigmoid(torch.tensor(0.3)).item())
    expected = torch.tensor([[0, 0, end, 0, 0, 0], [0, 0, go, go, go, end]])
    assert torch.allclose(result.stop, expected, atol=1e-6)
    assert result.at_max.tolist() == [[False] * 6, [False] * 5 + [True]]
    assert torch.allclose(result.nll() - result.nll(drop_max_stop=True), torch.tensor([0.0, end]), atol=1e-6)
    assert torch.allclose(result.nll(), result.kinematic.sum(1) + expected.sum(1), atol=1e-5)
    soft = log_likelihood(model, x, lengths, min_length=2, stop_targets=torch.full((2, 6), 0.25))
    half = F.binary_cross_entropy_with_logits(torch.tensor(0.3), torch.tensor(0.25)).item()
    assert torch.allclose(soft.stop[1, 2:], torch.full((4,), half)) and (soft.stop[0, 3:] == 0).all()
    assert torch.equal(log_likelihood(model, x, lengths, min_length=2).at_max, result.at_max)  # block_size - 1
    assert log_likelihood(model, x, lengths, min_length=2, max_length=2).at_max.tolist()[0] == [0, 0, 1, 0, 0, 0]


def test_gradients_reach_every_parameter():
    model = continuous()
    x, lengths = events(count=8)
    log_likelihood(model, x, lengths, min_length=2, modelled=MODELLED).nll().mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("position", POSITIONS)
def test_cache_matches_full_forward(position):
    model = continuous(position, n_layer=2).eval()
    inputs = torch.cat((torch.zeros(3, 1, 4), torch.randn(3, 5, 4)), dim=1)
    full, _ = model(inputs)
    caches = model.new_caches()
    steps = [model(inputs[:, t:t + 1], caches=caches, start=t)[0] for t in range(6)]
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)
    with pytest.raises(ValueError, match="log_likelihood"):
        model(inputs, targets=inputs)


# ---- sampling ---------------------------------------------------------------------------------------------------

def test_sampling_is_seeded_and_bounded():
    model = continuous()
    a = sample(model, 50, 5, seed=3, min_length=2, modelled=MODELLED, batch_size=16)
    b = sample(model, 50, 5, seed=3, min_length=2, modelled=MODELLED, batch_size=16)
    c = sample(model, 50, 5, seed=4, min_length=2, modelled=MODELLED, batch_size=16)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1], equal_nan=True)
    assert not np.array_equal(a[1], c[1], equal_nan=True)
    lengths, x = a
    assert x.shape == (50, 5, 4) and x.dtype == np.float32 and ((lengths >= 2) & (lengths <= 5)).all()
    present = np.arange(5)[None, :] < lengths[:, None]
    assert np.isfinite(x[present]).all() and np.isnan(x[~present]).all()
    assert (x[:, 0, 2:] == 0).all() and (x[:, 1, 3] == 0).all()  # features not modelled stay 0
    assert (np.abs(x[present][:, 2]) <= math.pi).all()  # angles wrapped


def test_sampling_stops_by_the_stop_probability_and_never_past_max_particles():
    model = continuous()
    with torch.no_grad():
        model.head.stop.weight.zero_()
        model.head.stop.bias.fill_(-30.0)  # never stop: every sequence runs to max_particles
    assert (sample(model, 20, 4, seed=0, min_length=2)[0] == 4).all()
    assert (sample(model, 20, 5, seed=0, min_length=2)[0] == 5).all()
    with torch.no_grad():
        model.head.stop.bias.fill_(30.0)  # always stop at the first chance
    assert (sample(model, 20, 5, seed=0, min_length=2)[0] == 2).all()
    with pytest.raises(ValueError, match="block_size"):
        sample(model, 2, 6)


# ---- learning toy events ------------------------------------------------------------------------------------------

def test_a_tiny_model_learns_toy_events():
    # Toy events with at most 3 jets; about 10 s on one core.
    multiplicity, particles = toy_events(6000, 0, rate=0.3)
    keep = multiplicity <= 3
    multiplicity, particles = multiplicity[keep], particles[keep][:, :5]
    preprocessing = Preprocessing.fit(multiplicity, particles, jet_ptmin=20.0)
    lengths, x, _ = (torch.from_numpy(a) for a in preprocessing.encode(multiplicity, particles))
    layout = {"min_length": preprocessing.min_length, "modelled": preprocessing.modelled}
    model = continuous(components=4)

    def held_out_nll():
        model.eval()
        with torch.no_grad():
            return log_likelihood(model, x[4000:], lengths[4000:], **layout).nll().mean().item()

    before = held_out_nll()
    optimizer = model.optimizer(3e-3, 0.0)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for step in range(400):
        for group in optimizer.param_groups:
            group["lr"] = 3e-3 * (1 - step / 400)
        pick = torch.randint(0, 4000, (256,), generator=generator)
        loss = log_likelihood(model, x[pick], lengths[pick], **layout).nll().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = held_out_nll()
    assert after < before - 8, (before, after)
    sampled_lengths, sampled = sample(model, 3000, 5, seed=1, **layout)
    got = multiplicity_fractions(sampled_lengths - 2, 3)
    assert np.abs(got - multiplicity_fractions(multiplicity, 3)).max() < 0.05, got
    decoded_multiplicity, decoded = preprocessing.decode(sampled_lengths, sampled, seed=0)
    assert np.array_equal(decoded_multiplicity, sampled_lengths - 2)
    assert np.isfinite(decoded[:, :2]).all() and (decoded[:, :2, 3] == particles[0, 0, 3]).all()  # muon mass
