"""A decoder-only transformer in the spirit of nanoGPT, with a key/value cache for sampling.

Position encodings: learned absolute, rotary (rope), ALiBi linear attention biases (alibi), or none.
The token embedding (`embed`) and output head (`head`) are separate modules around one trunk (positions,
blocks, final norm). With `inputs = "continuous"` they are a feature embedding and a mixture-density head
(`patternboost.mixture`): the same transformer learns sequences of real-valued feature vectors (jet events).

Every kind is capped at block_size (the sampling length). Within it, rope and alibi only see the
distance between positions, so they run on sequences longer than any seen in training; learned
positions past the training lengths are untrained rows of a table with exactly block_size rows.
"""
import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from patternboost.mixture import ContinuousEmbedding, MixtureHead


@dataclasses.dataclass
class GPTConfig:
    vocab_size: int
    block_size: int
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    position: str = "learned"  # learned | rope | alibi | none
    inputs: str = "tokens"  # tokens | continuous (feature vectors in, a mixture density out: patternboost.mixture)
    n_features: int = 0  # continuous: features per sequence element (a particle's pT, eta, phi, m)
    n_types: int = 0  # continuous: learned type embeddings by position (0 = start), the last shared by the rest
    components: int = 0  # continuous: mixture components per feature
    periodic: tuple = ()  # continuous: indices of the features that are angles (von Mises, fed as cos and sin)


def rotary_tables(head_dim, length, device):
    """(length, head_dim / 2) complex rotations e^(i t theta_j) of positions t = 0 .. length - 1."""
    inv_freq = 1.0 / (10000 ** (torch.arange(0, head_dim, 2, device=device).float() / head_dim))
    angles = torch.outer(torch.arange(length, device=device).float(), inv_freq)
    return torch.polar(torch.ones_like(angles), angles)


def apply_rotary(x, rotations):
    """Rotate each pair of channels (2j, 2j + 1) of x (..., T, head_dim) by the angle of its position: as a
    complex multiply, an order of magnitude faster on CPU than strided real arithmetic."""
    pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)).contiguous())
    return torch.view_as_real(pairs * rotations).flatten(-2).type_as(x)


def alibi_slopes(n_head):
    """ALiBi head slopes (Press et al., 2022): 2^(-8h/n) for h = 1..n when n is a power of two; otherwise
    those of the power of two p below n, then every other slope of 2p for the remaining heads."""
    def geometric(n):
        return [2 ** (-8 * h / n) for h in range(1, n + 1)]
    p = 2 ** math.floor(math.log2(n_head))
    return torch.tensor(geometric(p) + geometric(2 * p)[0::2][:n_head - p])


def alibi_bias(slopes, start, T):
    """(H, T, start + T) attention bias of queries start..start+T-1 on keys 0..start+T-1:
    -slope * (i - j) on past keys, -inf on future ones (the causal mask)."""
    i = torch.arange(start, start + T, device=slopes.device)[:, None]
    j = torch.arange(start + T, device=slopes.device)
    bias = -slopes[:, None, None] * (i - j)
    return bias.masked_fill(j > i, float("-inf"))


class KVCache:
    """One layer's keys and values while sampling, in buffers of the model's block size: extending it writes in
    place (concatenating a growing cache at every step took as long as the attention itself)."""

    def __init__(self, capacity):
        self.capacity, self.length, self.k, self.v = capacity, 0, None, None

    def extend(self, k, v):
        """Append (B, H, T, D) keys and values; return all of them so far (views of the buffers)."""
        if self.k is None:
            shape = (*k.shape[:2], self.capacity, k.shape[3])
            self.k, self.v = k.new_empty(shape), v.new_empty(shape)
        end = self.length + k.shape[2]
        self.k[:, :, self.length:end], self.v[:, :, self.length:end] = k, v
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]

    def select(self, index):
        """Keep the rows `index` (beam search: each new beam takes its parent's cache)."""
        self.k, self.v = self.k[index], self.v[index]


class SelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.dropout = config.dropout

    def forward(self, x, rotary=None, cache=None, bias=None):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if rotary is not None:
            q, k = apply_rotary(q, rotary), apply_rotary(k, rotary)
        if cache is not None:  # sampling: a prompt first, then one token per call
            assert cache.length == 0 or T == 1, "after the prompt, extend the cache one token at a time"
            k, v = cache.extend(k, v)
        dropout = self.dropout if self.training else 0.0
        if bias is None:  # a single new query may see every cached key; a block of queries is causal
            y = F.scaled_dot_product_attention(q, k, v, is_causal=T > 1, dropout_p=dropout)
        else:  # alibi: the bias of the last k.shape[2] key positions, causal mask included
            mask = bias[..., -k.shape[2]:].to(q.dtype)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd)
        self.attn = SelfAttention(config)
        self.ln2 = nn.LayerNorm(config.n_embd)
        self.mlp = nn.Sequential(nn.Linear(config.n_embd, 4 * config.n_embd), nn.GELU(),
                                 nn.Linear(4 * config.n_embd, config.n_embd), nn.Dropout(config.dropout))

    def forward(self, x, rotary=None, cache=None, bias=None):
        x = x + self.attn(self.ln1(x), rotary, cache, bias)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        if config.inputs not in ("tokens", "continuous"):
            raise ValueError(f"inputs must be tokens or continuous, got {config.inputs!r}")
        self.config = config
        self.embed = (nn.Embedding(config.vocab_size, config.n_embd) if config.inputs == "tokens"
                      else ContinuousEmbedding(config))
        self.position = nn.Embedding(config.block_size, config.n_embd) if config.position == "learned" else None
        slopes = alibi_slopes(config.n_head) if config.position == "alibi" else None
        self.register_buffer("slopes", slopes, persistent=False)  # not in checkpoints: a function of n_head
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        if config.inputs == "tokens":
            self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
            self.embed.weight = self.head.weight  # weight tying, as in nanoGPT
        else:
            self.head = MixtureHead(config)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith(("proj.weight", "mlp.2.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None, caches=None, start=0):
        """idx: (B, T) tokens at positions start .. start+T-1.

        With targets (B, T), returns (logits, mean cross-entropy over targets != -1).
        With caches (new_caches()), keys and values are kept for the next call.

        A continuous model takes (B, T, n_features) inputs and returns (hidden states, None): its head needs the
        targets' own features (component by component), so patternboost.mixture applies it.
        """
        if self.config.inputs == "continuous":
            if targets is not None:
                raise ValueError("a continuous model's loss is patternboost.mixture.log_likelihood")
            return self.trunk(self.embed(idx, start), caches, start), None
        logits = self.head(self.trunk(self.embed(idx), caches, start))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    def new_caches(self):
        """Empty key/value caches, one per layer, for sampling one token at a time."""
        return [KVCache(self.config.block_size) for _ in self.blocks]

    def trunk(self, x, caches=None, start=0):
        """x: (B, T, n_embd) embedded inputs at positions start .. start+T-1 -> (B, T, n_embd) hidden states
        after the final norm. Positions (learned, rope, alibi) are applied here; caches as in forward."""
        T = x.shape[1]
        if start + T > self.config.block_size:
            raise ValueError(f"sequence of length {start + T} exceeds block_size {self.config.block_size}")
        if self.position is not None:
            x = x + self.position(torch.arange(start, start + T, device=x.device))
        rotary = None
        if self.config.position == "rope":
            rotary = rotary_tables(self.config.n_embd // self.config.n_head, start + T, x.device)[start:]
        bias = alibi_bias(self.slopes, start, T) if self.slopes is not None else None
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, rotary, None if caches is None else caches[i], bias)
        return self.ln_f(x)

    def optimizer(self, lr, weight_decay, betas=(0.9, 0.95)):
        """AdamW with decay on matrices only (not biases, norms)."""
        params = [p for p in self.parameters() if p.requires_grad]
        decay = [p for p in params if p.dim() >= 2]
        no_decay = [p for p in params if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=lr, betas=betas)
