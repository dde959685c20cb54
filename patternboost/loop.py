"""The loop: one round, whatever the family (patternboost.families).

    train ─► propose ─► judge ─► absorb ─► close the round ─► record ─► checkpoint

A round trains the model for the family's steps, then works through the family's proposal chunks: each chunk is
proposed (from the model, or from a data source filling itself), judged (heavy work through the executor) and
absorbed into the family's state. The loop checks for a stop (Ctrl-C, the time limit) between training steps and
between chunks, and checkpoints there, so a run stopped anywhere resumes to what an uninterrupted run would have
done: every random draw comes from a seed of (run seed, round, stage, chunk), and the model, the optimizer, the
torch RNG and the family's state are all in the checkpoint.
"""
import logging
import os
import threading
import time

import numpy as np
import torch

from patternboost.errors import UserError
from patternboost.executor import make_executor
from patternboost.families import CHECKPOINT_VERSION, Context, make_family, upgrade
from patternboost.model import GPT, GPTConfig
from patternboost.sample import Decoder
from patternboost.train import Trainer

log = logging.getLogger("patternboost")

CHECKPOINT_EVERY = 60.0  # seconds: a long phase also checkpoints between chunks this often
LOG_EVERY = 60.0  # seconds: a long phase logs its progress this often


def resolve_device(name):
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available here (use auto or cpu)")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build_model(family, config, device):
    model_config = GPTConfig(vocab_size=family.vocab_size, block_size=family.block_size,
                             **getattr(family, "model_inputs", {}), **config.model.architecture())
    return GPT(model_config).to(device)


class Stop:
    """Set by the first Ctrl-C, or due at the time limit; the loop finishes its current step and checkpoints."""

    def __init__(self):
        self.requested = False
        self.deadline = None

    def __call__(self):
        return self.requested or (self.deadline is not None and time.time() >= self.deadline)

    def why(self):
        return "interrupted" if self.requested else "time limit reached"


class Heartbeat:
    """Progress of the running phase: to the terminal, to status.json (for `patternboost status`), and to the log
    at least once a minute in a long phase."""

    def __init__(self, loop, show):
        self.loop, self.show = loop, show
        self.last_write = self.last_log = time.time()

    def __call__(self, what, done, total):
        self.show(what, done, total)
        now = time.time()
        if now - self.last_write >= 2 or done >= total:
            self.loop.write_status(what, done, total)
            self.last_write = now
        if now - self.last_log >= LOG_EVERY:
            log.info("round %d: %s %d/%d [session %.0fs]", self.loop.round, what, done, total,
                     now - self.loop.session_start)
            self.last_log = now


class Loop:
    def __init__(self, problem, config, seed, run, label):
        self.config, self.seed, self.run, self.label = config, seed, run, label
        self.device = resolve_device(config.loop.device)
        torch.manual_seed(seed)
        self.family = make_family(problem, config, seed, label, self.device)
        self.model = build_model(self.family, config, self.device)
        self.trainer = Trainer(self.model, config.train, self.device, getattr(self.family, "loss", None))
        self.decoder = Decoder(self.model, self.device)
        self.round = self.family.first_round
        self.phase = "train"  # where round `round` resumes: train (at train_step) or propose (at chunk)
        self.train_step, self.chunk = 0, 0
        self.losses = []  # training losses of the current round, one per step
        self.train_seconds = 0.0  # time the current round spent training
        self.elapsed = 0.0  # seconds over all sessions of this run
        self.session_start = time.time()
        self.stop = Stop()
        target = config.loop.target
        self.target = self.family.target() if target is None else target

    # --- state ------------------------------------------------------------------------------------------------

    def state_dict(self):
        return {"version": CHECKPOINT_VERSION, "round": self.round, "phase": self.phase,
                "train_step": self.train_step, "chunk": self.chunk, "losses": self.losses,
                "train_s": self.train_seconds, "elapsed": self.elapsed, "model": self.model.state_dict(),
                "trainer": self.trainer.state_dict(), "torch_rng": torch.get_rng_state(),
                "family": self.family.state_dict()}

    def load_state_dict(self, state):
        state = upgrade(state)
        self.round, self.phase, self.train_step = state["round"], state["phase"], state["train_step"]
        self.chunk, self.losses, self.train_seconds = state["chunk"], state["losses"], state["train_s"]
        self.elapsed = state["elapsed"]
        self.model.load_state_dict(state["model"])
        self.trainer.load_state_dict(state["trainer"])
        torch.set_rng_state(state["torch_rng"])
        self.family.load_state_dict(state["family"])

    def checkpoint(self):
        self.run.save_checkpoint(self.state_dict(), f"{self.round:06d}-{self.phase}-{self.train_step:07d}-"
                                                    f"{self.chunk:06d}")
        self.last_checkpoint = time.time()

    def write_status(self, what, done=None, total=None):
        self.run.write_status({"round": self.round, "phase": self.phase, "what": what, "done": done,
                               "total": total, "session_s": round(time.time() - self.session_start, 1),
                               "elapsed_s": round(self.elapsed + time.time() - self.round_start, 1)})

    @property
    def best(self):
        return self.family.best()

    # --- the round --------------------------------------------------------------------------------------------

    def train_phase(self, progress):
        steps = self.family.train_steps(self.round)
        if self.train_step < steps:
            started = time.time()
            losses, self.train_step = self.trainer.train(
                self.family.batches(self.round, self.model), self.train_step, steps, self.stop,
                lambda i, n, loss: progress(f"train (loss {loss:.3f})", self.train_step + i, steps))
            self.losses.extend(losses)
            self.train_seconds += time.time() - started
        return self.train_step >= steps

    def judge_pending(self):
        """Judge the deferred chunks of the last round in a thread, beside training: (thread, verdicts), where
        verdicts fill in chunk order (an exception in its place). The executor's workers do the work; this thread
        only waits on them, so training keeps the process. A stop leaves the unjudged chunks None."""
        pending = list(self.family.pending)
        verdicts = [None] * len(pending)

        def work():
            for i, (round_, chunk, candidates) in enumerate(pending):
                context = Context(self.executor, self.seed, round_, chunk, self.config.executor.timeout, self.stop)
                try:
                    verdicts[i] = self.family.judge(candidates, context)
                except Exception as exc:  # noqa: BLE001 - raised again in the loop's thread
                    verdicts[i] = exc
                if verdicts[i] is None or isinstance(verdicts[i], Exception):
                    return
        thread = threading.Thread(target=work, name="judge-pending", daemon=True)
        thread.start()
        return thread, verdicts

    def absorb_pending(self, thread, verdicts, trained):
        """Wait for the judging thread; if training ended and every chunk was judged, absorb them in order and
        clear them. Stopped mid-training, nothing is absorbed: the rest of the round must train on the pool it
        started with, and the resumed round judges the chunks again (seeded: the same verdicts)."""
        thread.join()
        for verdict in verdicts:
            if isinstance(verdict, Exception):
                raise verdict
        if trained and all(v is not None for v in verdicts):
            for verdict in verdicts:
                self.family.absorb(verdict, self.round)
            self.family.pending.clear()

    def propose_phase(self, progress):
        """The round's chunks from self.chunk on; False when stopped (at a chunk boundary). A family that
        defers this round's chunks keeps them for the next round's training (loop.overlap). Once what the round
        absorbed reaches the target, its other chunks are skipped: the round closes (the new elites are checked)
        and the run stops there."""
        total = self.family.proposal_chunks(self.round)
        defer = getattr(self.family, "defers", lambda round_: False)(self.round)
        reached = getattr(self.family, "reached", lambda target: False)
        while self.chunk < total:
            if self.stop():
                return False
            candidates = self.family.propose(self.decoder, self.round, self.chunk)
            if defer:
                self.family.pending.append((self.round, self.chunk, candidates))
            else:
                context = Context(self.executor, self.seed, self.round, self.chunk, self.config.executor.timeout,
                                  self.stop, progress)
                verdicts = self.family.judge(candidates, context)
                if verdicts is None:
                    return False
                self.family.absorb(verdicts, self.round)
            self.chunk += 1
            progress(self.family.doing(self.round), self.chunk, total)
            if self.chunk < total and self.target is not None and reached(self.target):
                log.info("round %d: the target %g is reached; the round's %d other chunks are skipped",
                         self.round, self.target, total - self.chunk)
                break
            if self.chunk < total and time.time() - self.last_checkpoint >= CHECKPOINT_EVERY:
                self.checkpoint()
        return True

    def record(self, metrics):
        record = {"round": self.round, **metrics,
                  "train_loss": float(np.mean(self.losses)) if self.losses else None,
                  "train_s": round(self.train_seconds, 2), "elapsed_s": round(self.elapsed, 2),
                  "session_s": round(time.time() - self.session_start, 2)}
        self.run.append_metrics(record)
        self.family.publish(self.run, record)
        log.info("round %d: %s [%.0fs]", self.round, self.family.summary(record), self.elapsed)

    def finished(self):
        cfg, best = self.config.loop, self.family.best()
        if self.target is not None and best and best["score"] >= self.target:
            return f"reached the target {self.target:g}"
        if cfg.rounds is not None and self.round > cfg.rounds:
            return f"completed round {cfg.rounds}"
        if cfg.time_limit and time.time() - self.session_start >= cfg.time_limit:
            return f"time limit of {cfg.time_limit:g}s reached"
        return None

    # --- the loop ---------------------------------------------------------------------------------------------

    def run_rounds(self, progress=lambda *a: None):
        """Run until a stop condition; returns why it stopped."""
        self.session_start = self.last_checkpoint = self.round_start = time.time()
        if self.config.loop.time_limit:
            self.stop.deadline = self.session_start + self.config.loop.time_limit
        threads, cores = self.split_cores()
        self.executor = make_executor(self.config.executor, cores)
        heartbeat = Heartbeat(self, progress)
        try:
            reason = self.rounds(heartbeat)
        finally:
            self.executor.close()
            self.family.close()
            if threads is not None:
                torch.set_num_threads(threads)
        self.write_status(f"stopped: {reason}")
        return reason

    def split_cores(self):
        """Training beside search on one machine: torch keeps half the cores and the workers share the other
        half, so neither side oversubscribes the other (measured: 2 cores shared by both, training ran 6x
        slower). Half whatever the number of workers, so that it gives the same numbers. (torch's threads
        before, the workers' cores), or (None, None): no split, and torch's threads untouched (merely setting
        them can change CPU numerics)."""
        executor = self.config.executor
        local_workers = executor.kind == "process" or (executor.kind == "ray" and not executor.address)
        if not self.config.loop.overlap or not local_workers or self.device.type != "cpu":
            return None, None
        cores, before = os.cpu_count() or 1, torch.get_num_threads()
        torch.set_num_threads(max(1, cores // 2))
        return before, max(1, cores - cores // 2)

    def rounds(self, progress):
        while True:
            reason = self.finished()
            if reason:
                return reason
            self.round_start = time.time()
            if self.phase == "train":
                self.write_status("train")
                judging = self.judge_pending() if getattr(self.family, "pending", None) else None
                trained = self.train_phase(progress)
                if judging is not None:
                    self.absorb_pending(*judging, trained)
                    trained = trained and not self.family.pending  # stopped while judging: resume redoes it
                if not trained:
                    return self.pause(f"at training step {self.train_step}")
                self.phase = "propose"
                if self.losses:  # judging can take long, and a plugin can fail in it: keep the training
                    self.checkpoint()
            self.write_status(self.family.doing(self.round))
            if not self.propose_phase(progress):
                return self.pause(f"while {self.family.doing(self.round)}")
            metrics = self.family.close_round(self.round)
            self.elapsed += time.time() - self.round_start
            self.round_start = time.time()  # counted: a status written before the next round adds nothing twice
            self.record(metrics)
            self.round, self.phase, self.train_step, self.chunk = self.round + 1, "train", 0, 0
            self.losses, self.train_seconds = [], 0.0
            self.checkpoint()

    def pause(self, where):
        self.elapsed += time.time() - self.round_start
        self.round_start = time.time()
        self.checkpoint()
        return f"{self.stop.why()} in round {self.round} {where}; checkpointed"

