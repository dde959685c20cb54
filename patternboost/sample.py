"""Batched autoregressive sampling with a key/value cache."""
import numpy as np
import torch

from patternboost.tokens import BOS, EOS, PAD


@torch.no_grad()
def sample(model, count, temperature, top_k, seed, device, prompt=None):
    """`count` rows of tokens (BOS first, up to block_size long), as a numpy array.

    PAD and BOS are never sampled; a row stops at EOS and is padded after it.
    """
    model.eval()
    length = model.config.block_size
    generator = torch.Generator(device=device).manual_seed(int(seed))
    rows = torch.full((count, length), PAD, dtype=torch.long, device=device)
    rows[:, 0] = BOS if prompt is None else prompt
    done = torch.zeros(count, dtype=torch.bool, device=device)
    caches = [[] for _ in model.blocks]
    token = rows[:, :1]
    for t in range(1, length):
        logits, _ = model(token, caches=caches, start=t - 1)
        logits = logits[:, -1, :].float() / temperature
        logits[:, PAD] = logits[:, BOS] = -float("inf")
        if top_k:
            cut = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
            logits[logits < cut] = -float("inf")
        token = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)
        token[done] = PAD
        rows[:, t] = token[:, 0]
        done |= token[:, 0] == EOS
        if done.all():
            break
    return rows.cpu().numpy()


def sample_in_batches(model, count, batch_size, temperature, top_k, seeds, device, should_stop=lambda: False,
                      progress=lambda done, total: None):
    """Sample `count` rows in batches, batch i seeded by seeds[i]; None if stopped."""
    out = []
    for i, start in enumerate(range(0, count, batch_size)):
        if should_stop():
            return None
        out.append(sample(model, min(batch_size, count - start), temperature, top_k, seeds[i], device))
        progress(start + len(out[-1]), count)
    return np.concatenate(out)


def _step_logits(model, tokens, caches, start):
    """Log-probabilities of the next token after `tokens` (fed at `start`), PAD and BOS excluded."""
    logits, _ = model(tokens, caches=caches, start=start)
    logits = logits[:, -1, :].float()
    logits[:, PAD] = logits[:, BOS] = -float("inf")
    return torch.log_softmax(logits, dim=-1)


def _by_length(prompts):
    """{length: indices} so that prompts of one length decode together (no padding inside a prompt)."""
    groups = {}
    for i, prompt in enumerate(prompts):
        groups.setdefault(len(prompt), []).append(i)
    return groups


@torch.no_grad()
def greedy(model, prompts, max_new, device):
    """The most likely next token, repeatedly, after each prompt (model tokens, BOS first).

    Returns, per prompt, the generated tokens before EOS, and whether an EOS ended them."""
    model.eval()
    answers, ended = [None] * len(prompts), [False] * len(prompts)
    for length, indices in _by_length(prompts).items():
        steps = min(max_new, model.config.block_size - length)
        tokens = torch.tensor(np.array([prompts[i] for i in indices]), dtype=torch.long, device=device)
        caches, out = [[] for _ in model.blocks], []
        done = torch.zeros(len(indices), dtype=torch.bool, device=device)
        for t in range(steps):
            token = _step_logits(model, tokens, caches, 0 if t == 0 else length + t - 1).argmax(-1, keepdim=True)
            out.append(torch.where(done[:, None], PAD, token))
            done |= token[:, 0] == EOS
            tokens = token
            if done.all():
                break
        generated = torch.cat(out, dim=1).cpu().numpy() if out else np.zeros((len(indices), 0), dtype=np.int64)
        for row, i in zip(generated, indices):
            stops = np.flatnonzero(row == EOS)
            answers[i], ended[i] = (row[: stops[0]], True) if len(stops) else (row, False)
    return answers, ended


@torch.no_grad()
def beam_search(model, prompt, width, max_new, device):
    """The `width` most likely continuations of one prompt that end in EOS, best first, as
    (tokens before EOS, total log-probability). Fewer when fewer end within max_new tokens."""
    model.eval()
    length = len(prompt)
    steps = min(max_new, model.config.block_size - length)
    caches = [[] for _ in model.blocks]
    tokens = torch.tensor(np.array([prompt]), dtype=torch.long, device=device)
    beams, scores, finished = [[]], torch.zeros(1, device=device), []
    for t in range(steps):
        logp = scores[:, None] + _step_logits(model, tokens, caches, 0 if t == 0 else length + t - 1)
        best = torch.topk(logp.flatten(), min(width, logp.numel()))
        parents, chosen = best.indices // logp.shape[1], best.indices % logp.shape[1]
        keep = []
        for score, parent, token in zip(best.values.tolist(), parents.tolist(), chosen.tolist()):
            if token == EOS:
                finished.append((np.array(beams[parent], dtype=np.int64), score))
            else:
                keep.append((parent, token, score))
        # A finished answer beats every live beam below it: stop once `width` are at least as good.
        finished.sort(key=lambda answer: -answer[1])
        if not keep or (len(finished) >= width and finished[width - 1][1] >= keep[0][2]):
            break
        index = torch.tensor([parent for parent, _, _ in keep], device=device)
        for cache in caches:
            cache[:] = [cache[0][index], cache[1][index]]
        beams = [[*beams[parent], token] for parent, token, _ in keep]
        scores = torch.tensor([score for _, _, score in keep], device=device)
        tokens = torch.tensor([[token] for _, token, _ in keep], dtype=torch.long, device=device)
    return finished[:width]


class Decoder:
    """The one decoding entry point the families use: a model and its device, sampled, greedy or by beam."""

    def __init__(self, model, device):
        self.model, self.device = model, device

    def sample(self, count, temperature, top_k, seed):
        """`count` unconditional rows (BOS first)."""
        return sample(self.model, count, temperature, top_k, seed, self.device)

    def answer(self, prompts, max_new, beam=0):
        """The answer to each prompt (model tokens before EOS) and whether it ended with EOS: greedy, batched, or
        the most likely answer of a beam search of width `beam`."""
        if not beam:
            return greedy(self.model, prompts, max_new, self.device)
        found = [self.beams(prompt, beam, max_new) for prompt in prompts]
        return [b[0][0] if b else np.zeros(0, dtype=np.int64) for b in found], [bool(b) for b in found]

    def beams(self, prompt, width, max_new):
        """The `width` most likely answers that end with EOS, as (tokens, log-probability), best first."""
        return beam_search(self.model, prompt, width, max_new, self.device)
