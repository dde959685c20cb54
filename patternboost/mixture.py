"""Continuous sequences: a feature embedding, a mixture-density head, their likelihood and sampling.

A sequence is elements x_0 .. x_(L-1) of n_features real values each (a jet event: mu+, mu-, then jets, each
(pT, eta, phi, m) after preprocessing). The model reads [start, x_0, .., x_(L-1)]; the hidden state h_t at position
t has seen x_<t and gives

    a stop logit            whether the sequence ends here (L = t) or x_t follows; scored from t = min_length on
    x_t component by component
                            p(x_t | x_<t) = prod_k p(x_t,k | h_t, x_t,<k): feature k is a mixture of K Gaussians
                            (von Mises for periodic features) whose parameters come from h_t plus a linear map of
                            the features < k of x_t (a masked, MADE-like conditioning inside the element)

so log p(sequence) = sum_t log p(x_t | x_<t) + sum_t log p(stop or continue at t): the length is learned through
the stop probability. Features a caller marks as not modelled (constant in the data, such as a muon's mass) are
fixed to 0, in training and sampling alike, and have no likelihood term.

The embedding and head plug into patternboost.model.GPT (inputs = "continuous"): the same trunk as token models.
"""
import dataclasses
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SCALE_FLOOR = 1e-3  # the smallest Gaussian scale (standardised units), so von Mises kappa <= 1e6: bounded densities
LOG_2PI = math.log(2 * math.pi)


def periodic_mask(config):
    mask = torch.zeros(config.n_features, dtype=torch.bool)
    mask[list(config.periodic)] = True
    return mask


def columns(x, periodic):
    """(..., F) features -> (..., D) inputs of linear layers: plain features as they are, angles as cos and sin
    (so that -pi and pi are the same input). Column order: plain features, then the cosines, then the sines."""
    angles = x[..., periodic]
    return torch.cat((x[..., ~periodic], angles.cos(), angles.sin()), dim=-1)


def column_features(periodic):
    """The feature index of each column of `columns`."""
    index = torch.arange(len(periodic))
    return torch.cat((index[~periodic], index[periodic], index[periodic]))


def wrap(angle):
    """Angles to (-pi, pi]."""
    return angle - 2 * math.pi * torch.ceil((angle - math.pi) / (2 * math.pi))


class ContinuousEmbedding(nn.Module):
    """(B, T, n_features) inputs at positions start .. start+T-1 -> (B, T, n_embd).

    Position 0 is a learned start vector (whatever row is given there is ignored); a learned type embedding of
    the position (min(t, n_types - 1): for jets 0 start, 1 mu+, 2 mu-, 3 any jet) tells the trunk what it reads
    and what comes next, whichever position encoding the trunk uses. Inputs must be finite.
    """

    def __init__(self, config):
        super().__init__()
        periodic = periodic_mask(config)
        self.register_buffer("periodic", periodic, persistent=False)
        self.features = nn.Linear(config.n_features + int(periodic.sum()), config.n_embd)
        self.types = nn.Embedding(config.n_types, config.n_embd) if config.n_types else None
        self.start = nn.Parameter(0.02 * torch.randn(config.n_embd))

    def forward(self, x, start=0):
        positions = torch.arange(start, start + x.shape[1], device=x.device)
        embedded = self.features(columns(x, self.periodic))
        embedded = torch.where((positions == 0)[:, None], self.start, embedded)
        if self.types is not None:
            embedded = embedded + self.types(positions.clamp(max=self.types.num_embeddings - 1))
        return embedded


class MixtureHead(nn.Module):
    """Hidden states -> a stop logit per position, and per feature the (logits, loc, scale) of K components.

    Feature k sees h_t + A_k c(x_t,<k) (A_k a linear map whose inputs of features >= k are masked to zero), then
    one GELU layer of its own: so each feature is conditioned on the earlier features of the same element, and
    training scores every feature of every position in one pass (teacher forcing inside the element too).
    For a periodic feature, scale s means concentration kappa = 1 / s^2 (the small-angle Gaussian limit).
    """

    def __init__(self, config):
        super().__init__()
        if config.n_features < 1 or config.components < 1:
            raise ValueError("a continuous model needs n_features >= 1 and components >= 1")
        n_features, n_embd, k = config.n_features, config.n_embd, config.components
        periodic = periodic_mask(config)
        self.register_buffer("periodic", periodic, persistent=False)
        known = column_features(periodic)[None, :] < torch.arange(n_features)[:, None]  # (F, D): feature k sees < k
        self.register_buffer("known", known, persistent=False)
        self.stop = nn.Linear(n_embd, 1)
        self.condition = nn.Parameter(0.02 * torch.randn(n_features, known.shape[1], n_embd))
        self.condition_bias = nn.Parameter(torch.zeros(n_features, n_embd))
        self.out = nn.Parameter(0.02 * torch.randn(n_features, n_embd, 3 * k))
        self.out_bias = nn.Parameter(initial_bias(periodic, k))

    def stop_logit(self, h):
        """(B, T, n_embd) -> (B, T): the logit of ending the sequence at each position."""
        return self.stop(h)[..., 0]

    def forward(self, h, x, features=slice(None)):
        """h (B, T, n_embd), x (B, T, F) the elements to score -> (logits, loc, scale), each (B, T, F', K), of
        the features selected (all by default; sampling asks for one at a time)."""
        weight = (self.condition * self.known[..., None])[features]
        hidden = h[..., None, :] + torch.einsum("btd,kde->btke", columns(x, self.periodic), weight)
        hidden = F.gelu(hidden + self.condition_bias[features])
        params = torch.einsum("btke,keo->btko", hidden, self.out[features]) + self.out_bias[features]
        logits, loc, raw_scale = params.unflatten(-1, (3, -1)).unbind(-2)
        return logits, loc, F.softplus(raw_scale) + SCALE_FLOOR


def initial_bias(periodic, k):
    """(F, 3K) output biases: equal weights, locations spread over the data's range (standardised values, or
    the circle for angles) so that components start apart, scales near 1."""
    offsets = (torch.arange(k) + 0.5) / k
    loc = torch.where(periodic[:, None], 2 * math.pi * offsets - math.pi, 3.0 * offsets - 1.5)
    raw_scale = torch.full_like(loc, math.log(math.expm1(1.0)))  # softplus^-1(1)
    return torch.cat((torch.zeros_like(loc), loc, raw_scale), dim=-1)


def mixture_log_prob(x, logits, loc, scale, periodic):
    """log p(x) per feature: x (..., F), mixture parameters (..., F, K), periodic (F,) bool -> (..., F).

    Gaussian: -z^2/2 - log s - log(2 pi)/2. Von Mises with kappa = 1/s^2: kappa (cos d - 1) - log(2 pi) - log i0e(kappa),
    with cos d - 1 = -2 sin^2(d/2) (no cancellation at large kappa) and i0e = e^-kappa I0 (no overflow).
    """
    d = x[..., None] - loc
    gaussian = -0.5 * (d / scale) ** 2 - scale.log() - 0.5 * LOG_2PI
    kappa = scale ** -2
    von_mises = -2 * kappa * torch.sin(d / 2) ** 2 - LOG_2PI - torch.special.i0e(kappa).log()
    components = torch.where(periodic[:, None], von_mises, gaussian)
    return torch.logsumexp(F.log_softmax(logits, dim=-1) + components, dim=-1)


def modelled_rows(modelled, length, n_features, device):
    """(length, F) bool: which features of the element at each index are modelled. `modelled` is None (all), or
    rows for indices 0, 1, .., the last row standing for every later index (for jets: mu+, mu-, jet)."""
    if modelled is None:
        return torch.ones(length, n_features, dtype=torch.bool, device=device)
    rows = torch.as_tensor(np.asarray(modelled, dtype=bool), device=device)
    return rows[torch.arange(length, device=device).clamp(max=len(rows) - 1)]


@dataclasses.dataclass
class Likelihood:
    """Negative log-likelihood terms of a batch of sequences of lengths L_b, padded to L.

    kinematic  (B, L)      -log p(x_t | x_<t) per element, modelled features only; 0 past each sequence
    stop       (B, L + 1)  per-position stop terms: binary cross-entropy of the stop logit at t against its target
                           (1 at t = L_b, 0 before; or the stop_targets given); 0 at t < min_length and t > L_b
    at_max     (B, L + 1)  True at t = L_b of sequences as long as max_length: the final stop that every training
                           sequence of the longest length shows, which a 'reduced' loss may drop
    """
    kinematic: torch.Tensor
    stop: torch.Tensor
    at_max: torch.Tensor

    def nll(self, drop_max_stop=False, stop_weight=1.0):
        """(B,) per-sequence negative log-likelihood; drop_max_stop leaves out the at_max stop terms."""
        stop = self.stop.masked_fill(self.at_max, 0.0) if drop_max_stop else self.stop
        return self.kinematic.sum(1) + stop_weight * stop.sum(1)


def log_likelihood(model, x, lengths, min_length=0, modelled=None, max_length=None, stop_targets=None):
    """The Likelihood of sequences under a continuous GPT (one causal pass, teacher forcing).

    x: (B, L, F) elements (anything, NaN included, past each length), lengths: (B,) elements per sequence,
    min_length: elements every sequence has (no stop decision before it), modelled: see modelled_rows,
    max_length: the length whose final stop is flagged at_max (default block_size - 1, the longest possible),
    stop_targets: (B, L + 1) targets in [0, 1] replacing the 0/1 stop targets (a perturbed stop).
    """
    B, L, n_features = x.shape
    device = x.device
    lengths = torch.as_tensor(lengths, device=device).long()
    present = torch.arange(L, device=device)[None, :] < lengths[:, None]
    rows = modelled_rows(modelled, L, n_features, device)
    x = x.float().masked_fill(~present[..., None] | ~rows, 0.0)  # unmodelled features are 0 for the model
    inputs = torch.cat((x.new_zeros(B, 1, n_features), x), dim=1)  # position 0: the start vector
    h, _ = model(inputs)
    head = model.head
    with torch.autocast(device.type, enabled=False):  # densities in float32 even when the trunk ran in bf16
        h = h.float()
        log_p = mixture_log_prob(x, *head(h[:, :L], x), head.periodic)
        stop_logit = head.stop_logit(h)
    kinematic = -(log_p * rows).sum(-1) * present
    t = torch.arange(L + 1, device=device)[None, :]
    scored = (t >= min_length) & (t <= lengths[:, None])
    target = (t == lengths[:, None]).float() if stop_targets is None else torch.as_tensor(stop_targets).to(x)
    stop = F.binary_cross_entropy_with_logits(stop_logit, target, reduction="none") * scored
    max_length = model.config.block_size - 1 if max_length is None else max_length
    at_max = (t == lengths[:, None]) & (lengths[:, None] == max_length)
    return Likelihood(kinematic, stop, at_max)


# ---- sampling --------------------------------------------------------------------------------------------------

@torch.no_grad()
def sample(model, count, max_particles, seed=0, temperature=1.0, min_length=0, modelled=None, batch_size=1024,
           generator=None):
    """`count` sequences drawn autoregressively with the key/value cache, in batches, the same for the same seed
    (or generator) and batch size. Returns numpy (lengths int64 (count,), x float32 (count, max_particles, F))
    with NaN past each length. A sequence ends where its stop is drawn, and at max_particles at the latest.

    temperature T tempers each choice: stop logit and component logits / T, Gaussian scales * sqrt(T), von Mises
    concentrations / T (T = 1: the model's own distribution).
    """
    if not 0 <= min_length <= max_particles <= model.config.block_size - 1:
        raise ValueError(f"need 0 <= min_length <= max_particles <= block_size - 1 = {model.config.block_size - 1}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    model.eval()
    device = next(model.parameters()).device
    if generator is None:
        generator = torch.Generator(device=device).manual_seed(int(seed))
    rows = modelled_rows(modelled, max_particles, model.config.n_features, device)
    batches = [_sample_batch(model, min(batch_size, count - first), max_particles, temperature, min_length, rows,
                             generator) for first in range(0, count, batch_size)]
    lengths = torch.cat([b[0] for b in batches]) if batches else torch.zeros(0, dtype=torch.long)
    x = (torch.cat([b[1] for b in batches]) if batches
         else torch.zeros(0, max_particles, model.config.n_features))
    return lengths.cpu().numpy(), x.cpu().numpy()


def _sample_batch(model, count, max_particles, temperature, min_length, rows, generator):
    device = rows.device
    n_features = model.config.n_features
    x = torch.full((count, max_particles, n_features), float("nan"), device=device)
    lengths = torch.full((count,), max_particles, dtype=torch.long, device=device)
    done = torch.zeros(count, dtype=torch.bool, device=device)
    caches = model.new_caches()
    inputs = torch.zeros(count, 1, n_features, device=device)  # position 0: the start vector
    for t in range(max_particles + 1):
        h = model(inputs, caches=caches, start=t)[0].float()  # (count, 1, n_embd)
        if t >= min_length:
            p_stop = torch.sigmoid(model.head.stop_logit(h)[:, 0] / temperature)
            stop = (torch.rand(count, generator=generator, device=device) < p_stop) | (t == max_particles)
            lengths[stop & ~done] = t
            done |= stop
        if done.all():
            break
        element = _sample_element(model.head, h, rows[t], temperature, generator)
        x[~done, t] = element[~done]
        inputs = element[:, None]
    return lengths, x


def _sample_element(head, h, modelled, temperature, generator):
    """(count, F): one element, feature by feature, each conditioned on those already drawn."""
    count, n_features = h.shape[0], len(modelled)
    element = torch.zeros(count, n_features, device=h.device)
    for k in range(n_features):
        if not modelled[k]:
            continue  # fixed to 0, as in training
        logits, loc, scale = (p[:, 0, 0] for p in head(h, element[:, None], slice(k, k + 1)))
        component = torch.multinomial(torch.softmax(logits / temperature, dim=-1), 1, generator=generator)
        loc, scale = loc.gather(1, component)[:, 0], scale.gather(1, component)[:, 0]
        if head.periodic[k]:
            element[:, k] = sample_von_mises(loc, scale ** -2 / temperature, generator)
        else:
            noise = torch.randn(count, generator=generator, device=h.device)
            element[:, k] = loc + scale * math.sqrt(temperature) * noise
    return element


def sample_von_mises(loc, kappa, generator):
    """Von Mises draws wrapped to (-pi, pi], by Best and Fisher's (1979) rejection sampler in float64 (as
    torch.distributions.VonMises, which takes no generator). Acceptance is above 65% for every kappa."""
    if not torch.isfinite(kappa).all():
        raise ValueError("von Mises concentrations must be finite")
    loc, kappa = loc.double(), kappa.double().clamp(min=1e-8)  # kappa = 0 would make r infinite (NaN forever)
    tau = 1 + torch.sqrt(1 + 4 * kappa ** 2)
    rho = (tau - torch.sqrt(2 * tau)) / (2 * kappa)
    r = torch.where(kappa < 1e-5, 1 / kappa + kappa, (1 + rho ** 2) / (2 * rho))  # Taylor form at small kappa
    angle = torch.zeros_like(loc)
    done = torch.zeros_like(loc, dtype=torch.bool)
    while not done.all():
        u1, u2, u3 = torch.rand((3,) + loc.shape, generator=generator, device=loc.device, dtype=torch.float64)
        z = torch.cos(math.pi * u1)
        f = (1 + r * z) / (r + z)
        c = kappa * (r - f)
        accept = ~done & ((c * (2 - c) - u2 > 0) | (torch.log(c / u2) + 1 - c >= 0))
        angle = torch.where(accept, torch.sign(u3 - 0.5) * torch.acos(f.clamp(-1, 1)), angle)
        done |= accept
    return wrap(angle + loc).float()
