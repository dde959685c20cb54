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
