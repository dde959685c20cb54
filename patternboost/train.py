"""The trainer: AdamW steps on batches from any source, warm-started across rounds.

A batch source is a function step -> (inputs, targets) of token tensors, so a
training set may change while training runs (growing sets, replay buffers).
"""
import contextlib

import numpy as np
import torch

from patternboost.tokens import PAD


def sequence_batches(rows, batch_size, seed):
    """Batch source over packed rows: step k draws its rows from a generator seeded
    by (seed, k), so any step can be replayed exactly after a resume."""
    def batch(step):
        pick = np.random.default_rng((seed, step)).integers(0, len(rows), size=batch_size)
        chosen = rows[pick]
        width = int((chosen != PAD).sum(axis=1).max())  # drop the all-padding tail
        chosen = torch.from_numpy(chosen[:, :width])
        targets = chosen[:, 1:].clone()
        targets[targets == PAD] = -1  # no loss on padding
        return chosen[:, :-1], targets
    return batch


class Trainer:
    def __init__(self, model, config, device, loss=None):
        """loss(model, batch) -> the loss of a batch; default: batches are (inputs, targets) of a token model."""
        self.model, self.config, self.device = model, config, device
        self.loss = loss or self.token_loss
        # Compiled for training only: sampling feeds one token at a time against a growing cache, and the
        # checkpoint keeps the plain module's parameter names (the compiled wrapper shares its parameters).
        self.forward_model = torch.compile(model) if config.compile else model
        self.optimizer = model.optimizer(config.lr, config.weight_decay)
        self.step = 0  # optimizer steps taken, over all rounds

    def lr(self):
        warmup = self.config.warmup
        return self.config.lr * min(1.0, (self.step + 1) / warmup) if warmup else self.config.lr

    def autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train(self, batch_source, first, last, should_stop=lambda: False, progress=None):
        """Run steps first .. last-1 of this round; returns (the step losses, next step)."""
        self.model.train()
        losses = []
        step = first
        while step < last and not should_stop():
            batch = batch_source(step)
            for group in self.optimizer.param_groups:
                group["lr"] = self.lr()
            with self.autocast():
                loss = self.loss(self.forward_model, batch)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.config.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.optimizer.step()
            losses.append(loss.item())
            self.step += 1
            step += 1
            if progress:
                progress(step - first, last - first, losses[-1])
        return losses, step

    def token_loss(self, model, batch):
        inputs, targets = batch
        return model(inputs.to(self.device), targets.to(self.device))[1]

    def state_dict(self):
        return {"optimizer": self.optimizer.state_dict(), "step": self.step}

    def load_state_dict(self, state):
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = state["step"]
