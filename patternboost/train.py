"""The trainer: AdamW steps on batches from any source, warm-started across rounds.

A batch source is a function step -> (inputs, targets) of token tensors, so a
training set may change while training runs (growing sets, replay buffers).
"""
import contextlib

import numpy as np
import torch

from patternboost import distributed
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
        """loss(model, batch) -> the loss of a batch; default: batches are (inputs, targets) of a token model.
        Under torchrun (patternboost.distributed) every rank trains on its share of each batch."""
        self.model, self.config, self.device = model, config, device
        self.loss = loss or self.token_loss
        self.world = distributed.WORLD
        self.forward_model = None  # made at the first step: wrapping in DDP is collective
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
        """Run steps first .. last-1 of this round; returns (the step losses, next step). On rank 0 of several,
        the other ranks take each step with it (follow_phase)."""
        if self.world.size > 1:
            distributed.broadcast({"trainer": self.state_dict(), "model": self.model.state_dict()})
        losses = []
        step = first
        while step < last and not should_stop():
            batch = batch_source(step)
            if self.world.size > 1:
                distributed.broadcast(batch)
            losses.append(self.take_step(batch))
            step += 1
            if progress:
                progress(step - first, last - first, losses[-1])
        if self.world.size > 1:
            distributed.broadcast(None)  # the end of the phase
        return losses, step

    def follow_phase(self):
        """A rank other than 0: take rank 0's steps until it ends the phase."""
        while (batch := distributed.broadcast()) is not None:
            self.take_step(batch)

    def take_step(self, batch):
        """One optimizer step on a whole batch (this rank's share of it); returns the batch's loss."""
        if self.forward_model is None:
            model = self.model
            if self.world.size > 1:
                model = torch.nn.parallel.DistributedDataParallel(
                    model, device_ids=[self.device.index or 0] if self.device.type == "cuda" else None)
            # Compiled for training only: sampling feeds one token at a time against a growing cache, and the
            # checkpoint keeps the plain module's parameter names (the compiled wrapper shares its parameters).
            self.forward_model = torch.compile(model) if self.config.compile else model
        self.model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr()
        if self.world.size > 1:
            batch = distributed.shard(batch, self.world.rank, self.world.size)
        with self.autocast():
            loss = self.loss(self.forward_model, batch)
        if self.world.size > 1:
            # DDP averages the ranks' gradients: weighting each rank's mean by its share of the batch makes that
            # the gradient of the whole batch's mean.
            weight = self.weight(batch)
            loss = loss * (weight * self.world.size / distributed.all_sum(weight, self.device))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.step += 1
        if self.world.size > 1:
            return distributed.all_sum(loss.item(), self.device) / self.world.size
        return loss.item()

    def weight(self, batch):
        """What a batch's mean loss is a mean over: its scored tokens (the token loss), else its rows."""
        if self.loss == self.token_loss:
            return int((batch[1] != -1).sum())
        return distributed.rows(batch)

    def token_loss(self, model, batch):
        inputs, targets = batch
        return model(inputs.to(self.device), targets.to(self.device))[1]

    def state_dict(self):
        return {"optimizer": self.optimizer.state_dict(), "step": self.step}

    def load_state_dict(self, state):
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = state["step"]
