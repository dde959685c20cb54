"""Batched autoregressive sampling with a key/value cache."""
import numpy as np
import torch

from patternboost.tokens import BOS, EOS, N_SPECIAL, PAD


@torch.no_grad()
def sample(model, count, temperature, top_k, seed, device, prompt=None, increasing=False, top_p=1.0, separator=None):
    """`count` rows of tokens (BOS first, up to block_size long), as a numpy array.

    top_k > 0 keeps the k likeliest tokens; top_p < 1 keeps the fewest likeliest tokens whose probabilities add up
    to top_p (nucleus sampling), both after the masks below: they cut the unlikely tail, where a model's slips are.

    PAD and BOS are never sampled; a row stops at EOS and is padded after it. increasing: each token must be
    above the row's previous one (an encoding that lists a set in order), so the others are masked out: every
    row is then a well-formed set, whatever the model's slips. separator (a model token, with increasing): the
    encoding lists several sets in order, each ended by this token, after which the order starts again.
    """
    model.eval()
    length = model.config.block_size
    generator = torch.Generator(device=device).manual_seed(int(seed))
    rows = torch.full((count, length), PAD, dtype=torch.long, device=device)
    rows[:, 0] = BOS if prompt is None else prompt
    done = torch.zeros(count, dtype=torch.bool, device=device)
    caches = model.new_caches()
    token = rows[:, :1]
    ids = torch.arange(model.config.vocab_size, device=device)
    last = torch.full((count,), N_SPECIAL - 1, dtype=torch.long, device=device)  # the row's highest token so far
    for t in range(1, length):
        logits, _ = model(token, caches=caches, start=t - 1)
        logits = logits[:, -1, :].float() / temperature
        logits[:, PAD] = logits[:, BOS] = -float("inf")
        if increasing:
            logits[(ids[None, :] >= N_SPECIAL) & (ids[None, :] <= last[:, None]) & (ids[None, :] != separator)] = \
                -float("inf")
        if top_k:
            cut = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
            logits[logits < cut] = -float("inf")
        if top_p < 1:
            probs, order = torch.softmax(logits, dim=-1).sort(dim=-1, descending=True)
            outside = probs.cumsum(dim=-1) - probs >= top_p  # the likeliest token always stays
            logits.scatter_(1, order, logits.gather(1, order).masked_fill(outside, -float("inf")))
        token = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)
        token[done] = PAD
        rows[:, t] = token[:, 0]
        last = torch.maximum(last, token[:, 0])
        if separator is not None:
            last[token[:, 0] == separator] = N_SPECIAL - 1
        done |= token[:, 0] == EOS
        if done.all():
            break
    return rows.cpu().numpy()


@torch.no_grad()
def edit(model, rows, edits, temperature, seed, device, increasing=False, separator=None, batch_size=256):
    """Each row (BOS, tokens, EOS, PAD...) with `edits` of its tokens changed: the model's mutation operator.

    One teacher-forced pass gives, at every position, the model's probability p of each other token there given the
    row's prefix. Changes are drawn one after another without replacement, each with weight p ** (1 / temperature)
    (Gumbel keys), one per position. A row's length and its special tokens stay; a row with fewer positions gets
    fewer changes.
    increasing: the row is a set in order, so a change takes a token the row does not hold (in effect, one element
    replaced by another) and the row is sorted again. separator (with increasing): the row is several sets in order,
    each ended by this token, which is never changed nor drawn; each set is kept a set and sorted.
    model may also be a vocabulary size: then every allowed change is equally likely (chance, for comparison).
    """
    generator = torch.Generator(device=device).manual_seed(int(seed))
    out = torch.as_tensor(rows, dtype=torch.long, device=device).clone()
    for start in range(0, len(out), batch_size):
        batch = out[start:start + batch_size]
        if isinstance(model, int):  # the control without learning: every allowed change equally likely
            log_p = torch.zeros(*batch[:, 1:].shape, model, device=device)
        else:
            model.eval()
            logits, _ = model(batch[:, :-1])
            log_p = torch.log_softmax(logits.float(), dim=-1) / temperature  # [:, t] predicts batch[:, t + 1]
        set_id = _set_ids(batch[:, 1:], separator) if increasing else None
        same_set = set_id[:, :, None] == set_id[:, None, :] if increasing else None  # (B, L, L)
        allowed = _allowed_changes(batch[:, 1:], log_p.size(-1), same_set, separator)
        uniform = torch.rand(log_p.shape, generator=generator, device=device).clamp_min(1e-20)
        keys = torch.where(allowed, log_p - torch.log(-torch.log(uniform)), -float("inf"))
        rows_here = torch.arange(len(batch), device=device)
        for _ in range(edits):  # the likeliest key left: a draw without replacement, position by position
            position_keys, tokens = keys.max(dim=-1)
            best_keys, position = position_keys.max(dim=1)
            live = torch.isfinite(best_keys)
            token = tokens[rows_here, position]
            batch[rows_here[live], position[live] + 1] = token[live]
            keys[rows_here, position] = -float("inf")  # one change per position
            if increasing:  # and per token within its set: the set stays a set
                taken = same_set[rows_here, position]
                keys[rows_here, :, token] = torch.where(taken, -float("inf"), keys[rows_here, :, token])
        if increasing:
            _sort_sets(batch, set_id, log_p.size(-1), separator)
    return out.cpu().numpy()


def _set_ids(current, separator):
    """(B, L): which set each position belongs to, a separator to the set it ends (all 0 without one)."""
    if separator is None:
        return torch.zeros_like(current)
    ends = (current == separator).long()
    return torch.cumsum(ends, dim=1) - ends


def _allowed_changes(current, vocab, same_set, separator):
    """(B, L, V): the token each position may take. Only problem tokens change, into other problem tokens, and
    never from or to a separator; same_set (increasing encodings): no token its set already holds."""
    ids = torch.arange(vocab, device=current.device)
    is_token = (current >= N_SPECIAL) & (current != separator)
    allowed = is_token[:, :, None] & (ids >= N_SPECIAL) & (ids != separator) & (ids != current[:, :, None])
    if same_set is not None:
        held = torch.nn.functional.one_hot(torch.where(is_token, current, 0), vocab) & is_token[:, :, None]
        allowed &= ~((same_set.float() @ held.float()) > 0)
    return allowed


def _sort_sets(batch, set_id, vocab, separator):
    """Sort each set of each row in place, its separator last; tokens fill positions 1..length, so sorting the
    framed part is enough."""
    current = batch[:, 1:]
    framed = current >= N_SPECIAL
    ends = current == separator if separator is not None else torch.zeros_like(framed)
    order_key = torch.where(ends, vocab, current) + set_id * (vocab + 1)
    order_key = torch.where(framed, order_key, torch.iinfo(torch.long).max)
    batch[:, 1:] = torch.where(framed, current.gather(1, order_key.argsort(dim=1, stable=True)), current)


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
        caches, out = model.new_caches(), []
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


def beam_search(model, prompt, width, max_new, device):
    """The `width` most likely continuations of one prompt that end in EOS, best first, as
    (tokens before EOS, total log-probability). Fewer when fewer end within max_new tokens."""
    return beam_search_batch(model, [prompt], width, max_new, device)[0]


@torch.no_grad()
def beam_search_batch(model, prompts, width, max_new, device):
    """beam_search for many prompts at once: prompts of one length decode together, `width` beams each."""
    model.eval()
    found = [None] * len(prompts)
    for indices in _by_length(prompts).values():
        group = _beam_group(model, np.array([prompts[i] for i in indices]), width, max_new, device)
        for i, answers in zip(indices, group):
            found[i] = answers
    return found


def _beam_group(model, prompts, width, max_new, device):
    """Beam search for B prompts of one length. Each prompt keeps up to `width` live beams in its own slots (dead
    slots score -inf); at every step the `width` best extensions of its live beams are taken, those ending in EOS
    are finished, and a prompt is done once `width` finished answers are at least as likely as its best live beam
    (log-probabilities only fall as an answer grows)."""
    count, length = prompts.shape
    steps = min(max_new, model.config.block_size - length)
    caches = model.new_caches()
    tokens = torch.tensor(prompts, dtype=torch.long, device=device)
    slots = 1  # live beams per prompt in the current layout: 1 after the prompt, `width` after the first step
    scores = torch.zeros(count, 1, device=device)
    beams = [[[]] for _ in range(count)]  # beams[b][slot] = tokens so far
    finished = [[] for _ in range(count)]
    done = np.zeros(count, dtype=bool)
    for t in range(steps):
        logp = scores[:, :, None] + _step_logits(model, tokens, caches, 0 if t == 0 else length + t - 1).view(
            count, slots, -1)
        vocab = logp.shape[2]
        best = torch.topk(logp.view(count, -1), min(width, slots * vocab), dim=1)
        values, picks = best.values.tolist(), best.indices.tolist()
        parents = np.zeros((count, width), dtype=np.int64)  # the slot each new slot extends
        new_scores = torch.full((count, width), -float("inf"), device=device)
        new_tokens = torch.full((count * width, 1), PAD, dtype=torch.long, device=device)
        new_beams = [[[] for _ in range(width)] for _ in range(count)]
        for b in np.flatnonzero(~done):
            live = 0
            for score, pick in zip(values[b], picks[b]):
                parent, token = divmod(pick, vocab)
                if score == -float("inf"):
                    break
                if token == EOS:
                    finished[b].append((np.array(beams[b][parent], dtype=np.int64), score))
                    continue
                parents[b, live], new_scores[b, live] = parent, score
                new_tokens[b * width + live, 0] = token
                new_beams[b][live] = [*beams[b][parent], token]
                live += 1
            finished[b].sort(key=lambda answer: -answer[1])
            best_live = new_scores[b, 0].item() if live else -float("inf")
            if not live or (len(finished[b]) >= width and finished[b][width - 1][1] >= best_live):
                done[b] = True
                new_scores[b] = -float("inf")
        if done.all():
            break
        index = torch.as_tensor((np.arange(count)[:, None] * slots + parents).reshape(-1), device=device)
        for cache in caches:
            cache.select(index)
        slots, scores, tokens, beams = width, new_scores, new_tokens, new_beams
    return [answers[:width] for answers in finished]


class Decoder:
    """The one decoding entry point the families use: a model and its device, sampled, greedy or by beam."""

    def __init__(self, model, device):
        self.model, self.device = model, device

    def sample(self, count, temperature, top_k, seed, increasing=False, top_p=1.0, separator=None):
        """`count` unconditional rows (BOS first); increasing, top_p, separator: see sample()."""
        return sample(self.model, count, temperature, top_k, seed, self.device, increasing=increasing, top_p=top_p,
                      separator=separator)

    def edit(self, rows, edits, temperature, seed, increasing=False, separator=None):
        """Rows with `edits` tokens changed by the model: see edit()."""
        return edit(self.model, rows, edits, temperature, seed, self.device, increasing=increasing,
                    separator=separator)

    def answer(self, prompts, max_new, beam=0):
        """The answer to each prompt (model tokens before EOS) and whether it ended with EOS: greedy, batched, or
        the most likely answer of a beam search of width `beam`."""
        if not beam:
            return greedy(self.model, prompts, max_new, self.device)
        found = beam_search_batch(self.model, prompts, beam, max_new, self.device)
        return [b[0][0] if b else np.zeros(0, dtype=np.int64) for b in found], [bool(b) for b in found]

    def beams_batch(self, prompts, width, max_new):
        """For each prompt, the `width` most likely answers that end with EOS, as (tokens, log-probability), best
        first."""
        return beam_search_batch(self.model, prompts, width, max_new, self.device)
