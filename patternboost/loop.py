"""The PatternBoost loop.

Round 0: initial objects, improved by local search, fill the elite pool.
Round r >= 1: train the model on the pool (warm start), sample, decode, local
search, merge into the pool; raise the temperature when samples repeat.

A task (input -> output pairs, patternboost.tasks) has no search and no pool: its
rounds start at 1, train on the [data] regime's batches (batch k of the whole run
is a function of k alone), then decode the test sets greedily and write the report.

All randomness is counter-based: every stage draws its seed from
(run seed, round, stage, chunk), so a resumed run repeats exactly what an
uninterrupted one would have done. A checkpoint is written after every round,
on interrupt mid-round (the training step reached, or the start of sampling), and
for a task after training, before its evaluation.
"""
import dataclasses
import functools
import logging
import math
import os
import time

import numpy as np
import torch

from patternboost import tokens
from patternboost.data import Prefetcher, make_source
from patternboost.errors import UserError
from patternboost.model import GPT, GPTConfig
from patternboost.pool import ElitePool
from patternboost.problem import _call, check_batch, check_decoded, check_scores, check_sequences
from patternboost.registry import PLUGIN_PREFIX
from patternboost.report import scalars, write_report
from patternboost.sample import beam_search, greedy, sample_in_batches
from patternboost.tasks import (
    FramedPairs,
    check_metrics,
    check_pairs,
    framed_task,
    is_task,
    prompt_rows,
    sequence_width,
    training_batch,
)
from patternboost.train import Trainer, sequence_batches

log = logging.getLogger("patternboost")

STAGES = {"initial": 0, "search": 1, "sample": 2, "train": 3, "data": 4, "test": 5}
CHUNK = 20000  # objects per local-search call in round 0, so interrupts are seen promptly
SEARCH_CHUNK = 1000  # searches per call from samples: slow problems take seconds per thousand


def stage_seed(seed, round_, stage, chunk=0):
    return int(np.random.SeedSequence([seed, round_, STAGES[stage], chunk]).generate_state(1, np.uint64)[0] >> 1)


def resolve_device(name):
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available here (use auto or cpu)")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class Stop:
    """Set by the first Ctrl-C, or due at the time limit; the loop finishes its current step and checkpoints."""

    def __init__(self):
        self.requested = False
        self.deadline = None

    def __call__(self):
        return self.requested or (self.deadline is not None and time.time() >= self.deadline)

    def why(self):
        return "interrupted" if self.requested else "time limit reached"


class Loop:
    def __init__(self, problem, config, seed, run, label):
        self.problem, self.config, self.seed, self.run, self.label = problem, config, seed, run, label
        self.device = resolve_device(config.loop.device)
        torch.manual_seed(seed)
        self.task = is_task(problem)
        model_config = GPTConfig(vocab_size=problem.vocab_size + tokens.N_SPECIAL,
                                 block_size=sequence_width(problem), **config.model.architecture())
        self.model = GPT(model_config).to(self.device)
        self.trainer = Trainer(self.model, config.train, self.device)
        self.pool = ElitePool(config.loop.pool_size)
        self.round = 1 if self.task else 0
        self.phase = "train"  # where round `round` resumes: train (at train_step), sample or evaluate
        self.train_step = 0
        self.temperature = config.sample.temperature
        self.best = None  # {"score", "round", "object"} of the verified best
        self.losses = []  # training losses of the current round, one per step
        self.train_seconds = None  # time the current round spent training (this session)
        self.elapsed = 0.0  # seconds over all sessions of this run
        self.stop = Stop()
        target = config.loop.target
        if target is None and getattr(problem, "known_optimal", False):
            target = problem.known_best
        self.target = target

    # --- state ------------------------------------------------------------------

    def state_dict(self):
        return {"round": self.round, "phase": self.phase, "train_step": self.train_step,
                "temperature": self.temperature, "best": self.best, "elapsed": self.elapsed, "losses": self.losses,
                "pool": self.pool.state_dict(), "model": self.model.state_dict(),
                "trainer": self.trainer.state_dict(), "torch_rng": torch.get_rng_state()}

    def load_state_dict(self, state):
        self.round, self.phase, self.train_step = state["round"], state["phase"], state["train_step"]
        self.temperature, self.best, self.elapsed = state["temperature"], state["best"], state["elapsed"]
        self.losses = state["losses"]
        self.pool.load_state_dict(state["pool"])
        self.model.load_state_dict(state["model"])
        self.trainer.load_state_dict(state["trainer"])
        torch.set_rng_state(state["torch_rng"])

    def checkpoint(self):
        tag = f"{self.round:06d}-{self.phase}-{self.train_step:07d}"
        self.run.save_checkpoint(self.state_dict(), tag)

    # --- stages -----------------------------------------------------------------

    def improve(self, objects, round_, chunk):
        """Local search and scoring, with the contract checked on every call."""
        improved = self.problem.local_search(objects, stage_seed(self.seed, round_, "search", chunk))
        check_batch(self.label, "local_search()", improved, len(objects), like=objects)
        scores = check_scores(self.label, self.problem.score(improved), len(objects))
        keys = np.asarray(self.problem.canonical_key(improved), dtype=np.uint64)
        return improved, scores, keys

    def initial_round(self, progress):
        total, done, all_scores = self.config.loop.initial, 0, []
        for chunk, start in enumerate(range(0, total, CHUNK)):
            if self.stop.requested:  # only Ctrl-C: a time limit lets round 0 finish, or nothing would be kept
                return None
            count = min(CHUNK, total - start)
            objects = self.problem.initial(count, stage_seed(self.seed, 0, "initial", chunk))
            check_batch(self.label, "initial()", objects, count)
            improved, scores, keys = self.improve(objects, 0, chunk)
            self.pool.merge(improved, scores, keys, 0)
            all_scores.append(scores)
            done += count
            progress("local search", done, total)
        scores = np.concatenate(all_scores)
        return {"mean_score": float(scores.mean()), "round_best": float(scores.max()), "searched": len(scores),
                "known_best_hits": self.known_best_hits(scores)}

    def train_phase(self, progress):
        if self.task:
            source = self.task_batches()
        else:
            sequences = self.problem.encode(self.pool.objects)
            check_sequences(self.label, sequences, len(self.pool), self.problem.vocab_size, self.problem.max_length)
            rows = tokens.pack(sequences, self.problem.max_length)
            source = sequence_batches(rows, self.config.train.batch_size, stage_seed(self.seed, self.round, "train"))
        losses, self.train_step = self.trainer.train(
            source, self.train_step, self.config.train.steps, self.stop,
            lambda i, n, loss: progress(f"train (loss {loss:.3f})", i, n))
        self.losses.extend(losses)

    def task_batches(self):
        """Training batches of a task: the data source's batch (round - 1) * steps + k at local step k."""
        offset = (self.round - 1) * self.config.train.steps
        return lambda step: training_batch(self.data_source(offset + step))

    @functools.cached_property
    def data_source(self):
        source = make_source(FramedPairs(self.problem, self.label), self.config.data, self.config.train.batch_size,
                             stage_seed(self.seed, 0, "data"))
        workers = self.config.data.workers
        if workers == -1:  # a GPU trains faster than one process generates; on CPU the cores are training's
            workers = 0 if self.device.type == "cpu" else min(8, max(1, (os.cpu_count() or 2) - 1))
        if not workers:
            return source
        cls = type(self.problem)  # workers import it; a file plugin only its spec can load again
        spec = self.label if cls.__module__.startswith(PLUGIN_PREFIX) else cls
        factory = functools.partial(framed_task, spec, dataclasses.asdict(self.problem.params), self.label)
        return Prefetcher(source, factory, workers)

    def close_data(self):
        source = self.__dict__.pop("data_source", None)
        if hasattr(source, "close"):
            source.close()

    @functools.cached_property
    def test_sets(self):
        sets = _call(self.label, "test_sets()", self.problem.test_sets, stage_seed(self.seed, 0, "test"))
        return {name: check_pairs(self.label, f"test_sets()[{name!r}]", pairs, self.problem)
                for name, pairs in sets.items()}

    def evaluate_phase(self, progress):
        """Greedy answers to every test set, judged by the task; None if stopped."""
        started, results, size = time.time(), {}, self.config.sample.batch_size
        for name, (prompts, answers) in self.test_sets.items():
            rows, predictions, ended = prompt_rows(prompts), [], []
            for first in range(0, len(rows), size):
                if self.stop():
                    return None
                out, closed = self.answer(rows[first:first + size])
                predictions += [answer - tokens.N_SPECIAL for answer in out]
                ended += closed
                progress(f"evaluate {name}", len(predictions), len(rows))
            results[name] = (prompts, answers, predictions, ended)
        metrics = check_metrics(self.label, _call(self.label, "evaluate()", self.problem.evaluate, results))
        return {"metrics": metrics, "eval_s": round(time.time() - started, 2)}

    def answer(self, prompts):
        """The model's answers to prompts (model tokens) and whether each ended with EOS: greedy, or the most
        likely answer of a beam search (one prompt at a time)."""
        max_new, width = self.problem.max_answer + 1, self.config.sample.beam
        if not width:
            return greedy(self.model, prompts, max_new, self.device)
        beams = [beam_search(self.model, prompt, width, max_new, self.device) for prompt in prompts]
        return [b[0][0] if b else np.zeros(0, dtype=np.int64) for b in beams], [bool(b) for b in beams]

    def sample_phase(self, progress):
        cfg, started = self.config.sample, time.time()
        chunks = math.ceil(cfg.count / cfg.batch_size)
        seeds = [stage_seed(self.seed, self.round, "sample", c) for c in range(chunks)]
        rows = sample_in_batches(self.model, cfg.count, cfg.batch_size, self.temperature, cfg.top_k, seeds,
                                 self.device, self.stop, lambda done, total: progress("sample", done, total))
        if rows is None:
            return None
        sampled = time.time()
        sequences, framed = tokens.unpack(rows)
        objects, decoded = check_decoded(self.label, self.problem.decode(sequences), len(sequences),
                                         self.pool.objects)
        raw_keys = np.asarray(self.problem.canonical_key(objects), dtype=np.uint64)
        # Local search is cheap next to sampling: start several differently seeded searches from each sample.
        # In chunks, so that Ctrl-C and the time limit are seen promptly; the round's sampling then reruns on resume.
        starts, parts = np.repeat(objects, cfg.searches, axis=0), []
        for chunk, first in enumerate(range(0, len(starts), SEARCH_CHUNK)):
            if self.stop():
                return None
            parts.append(self.improve(starts[first:first + SEARCH_CHUNK], self.round, chunk))
            progress("local search", min(first + SEARCH_CHUNK, len(starts)), len(starts))
        improved, scores, keys = (np.concatenate(part) for part in zip(*parts))
        new = self.pool.merge(improved, scores, keys, self.round)
        unique = len(np.unique(raw_keys)) / len(raw_keys)
        stats = {"mean_score": float(scores.mean()), "round_best": float(scores.max()), "searched": len(scores),
                 "known_best_hits": self.known_best_hits(scores),
                 "invalid_samples": int((~(framed & decoded)).sum()),
                 "unique_samples": round(unique, 4), "new_elites": int(new), "temperature": self.temperature,
                 "sample_s": round(sampled - started, 2), "search_s": round(time.time() - sampled, 2)}
        if unique < cfg.min_unique:
            self.temperature = min(cfg.max_temperature, self.temperature + cfg.temperature_step)
        return stats

    # --- bookkeeping ------------------------------------------------------------

    def known_best_hits(self, scores):
        """How many of a round's searches reached the known best (None when there is none)."""
        known = self.problem.known_best
        return None if known is None else int((scores >= known).sum())

    def update_best(self):
        """Write best.json for a new best, after an independent check confirms its score."""
        for i in range(len(self.pool)):
            score = float(self.pool.scores[i])
            if self.best is not None and score <= self.best["score"]:
                return
            obj = self.pool.objects[i]
            try:
                checked = float(self.problem.verify(obj))
            except ValueError as exc:
                log.error("round %d: elite %d failed the independent check (%s); not recorded", self.round, i, exc)
                continue
            if checked != score:
                log.error("round %d: elite %d scored %g but the independent check gives %g; not recorded",
                          self.round, i, score, checked)
                continue
            self.best = {"score": score, "round": int(self.pool.rounds[i]), "object": obj}
            known = self.problem.known_best
            self.run.write_best({"problem": self.label, "params": dataclasses.asdict(self.problem.params),
                                 "score": score, "round": self.best["round"], "verified": True,
                                 "known_best": known, "gap": None if known is None else known - score,
                                 "elapsed_s": round(self.elapsed, 2), "object": self.problem.to_native(obj),
                                 "raw": {"dtype": str(obj.dtype), "data": obj.tolist()}})
            return

    def record_task(self, stats, session_start):
        """A task round: scalar metrics to metrics.jsonl, everything to the report; best = best accuracy."""
        metrics = stats.pop("metrics")
        step = self.round * self.config.train.steps
        data_stats = self.data_source.stats(step)
        record = {"round": self.round, "step": step, "examples": data_stats["examples"],
                  "train_loss": stats["train_loss"], **scalars(metrics),
                  "distinct_examples": round(data_stats["distinct"]), "repetitions": data_stats["repetitions"],
                  "train_s": stats["train_s"], "eval_s": stats["eval_s"], "elapsed_s": round(self.elapsed, 2),
                  "session_s": round(time.time() - session_start, 2)}
        self.run.append_metrics(record)
        if self.best is None or metrics["accuracy"] > self.best["score"]:
            self.best = {"score": metrics["accuracy"], "round": self.round}
        history = [{k: v for k, v in r.items() if k not in ("train_s", "eval_s", "session_s")}
                   for r in self.run.metrics()]
        write_report(self.run, {**metrics, "run": {
            "task": self.label, "params": dataclasses.asdict(self.problem.params),
            "data": dataclasses.asdict(self.config.data), "round": self.round, "step": step,
            "examples": data_stats["examples"], "data_stats": data_stats, "elapsed_s": round(self.elapsed, 2)},
            "history": history})
        log.info("round %d (step %d): accuracy %.4f, train loss %.4f [%.0fs]", self.round, step,
                 metrics["accuracy"], stats["train_loss"] or float("nan"), self.elapsed)

    def record(self, stats, started, session_start):
        self.elapsed += time.time() - started
        if self.task:
            return self.record_task(stats, session_start)
        self.update_best()
        known = self.problem.known_best
        record = {"round": self.round, "best_score": self.best["score"] if self.best else None,
                  "mean_score": stats["mean_score"], "pool_mean": float(self.pool.scores.mean()),
                  "pool_min": float(self.pool.scores.min()), "pool_size": len(self.pool),
                  "known_best": known, "gap": None if known is None or not self.best else known - self.best["score"],
                  "elapsed_s": round(self.elapsed, 2), "session_s": round(time.time() - session_start, 2),
                  **{k: v for k, v in stats.items() if k != "mean_score"}}
        self.run.append_metrics(record)
        gap = "" if record["gap"] is None else f" (known {known:g}, gap {record['gap']:g})"
        log.info("round %d: best %s%s, round mean %.2f, pool %d [%.0fs]", self.round,
                 f"{record['best_score']:g}", gap, stats["mean_score"], len(self.pool), self.elapsed)

    def finished(self, session_start):
        cfg = self.config.loop
        if self.target is not None and self.best and self.best["score"] >= self.target:
            return f"reached the target {self.target:g}"
        if cfg.rounds and self.round > cfg.rounds:
            return f"completed round {cfg.rounds}"
        if cfg.time_limit and time.time() - session_start >= cfg.time_limit:
            return f"time limit of {cfg.time_limit:g}s reached"
        return None

    # --- the loop ---------------------------------------------------------------

    def run_rounds(self, progress=lambda *a: None):
        """Run until a stop condition; returns why it stopped."""
        try:
            return self.rounds(progress)
        finally:
            self.close_data()

    def rounds(self, progress):
        session_start = time.time()
        if self.config.loop.time_limit:
            self.stop.deadline = session_start + self.config.loop.time_limit
        while True:
            reason = self.finished(session_start)
            if reason:
                return reason
            started = time.time()
            if self.round == 0:
                stats = self.initial_round(progress)
                if stats is None:
                    return "interrupted before round 0 completed (nothing to checkpoint)"
            else:
                if self.phase == "train":
                    self.train_phase(progress)
                    self.train_seconds = round(time.time() - started, 2)
                    if self.stop():
                        self.elapsed += time.time() - started
                        self.checkpoint()
                        return f"{self.stop.why()} in round {self.round} at training step {self.train_step}; checkpointed"
                    self.phase = "evaluate" if self.task else "sample"
                    if self.task:  # evaluating can take a while, and a plugin's evaluate() can fail: keep the training
                        self.checkpoint()
                stats = (self.evaluate_phase if self.task else self.sample_phase)(progress)
                if stats is None:
                    self.elapsed += time.time() - started
                    self.checkpoint()
                    doing = "evaluating" if self.task else "sampling"
                    return f"{self.stop.why()} in round {self.round} while {doing}; checkpointed after training"
                stats["train_loss"] = float(np.mean(self.losses)) if self.losses else None
                stats["train_s"] = self.train_seconds
            self.record(stats, started, session_start)
            self.round, self.phase, self.train_step, self.losses = self.round + 1, "train", 0, []
            self.checkpoint()
