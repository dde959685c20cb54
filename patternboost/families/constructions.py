"""Constructions: a Problem plugin (patternboost.problem) on the loop.

Data source: the elite pool. Round 0 is the pool filling itself: `loop.initial` objects from initial(), improved
by local search. Every later round trains on the pool, samples the model (from scratch, or with `sample.edits`
as changes to pool elites), starts `sample.searches` local searches from each sample and merges the results into
the pool; the temperature rises when samples repeat.
Judge: local search, score and canonical key, in chunks through the executor. A chunk that fails (raises, hangs
past executor.timeout, kills its worker) is logged and counted, and the run goes on without it.
At the end of a round every new elite passes the problem's independent verify(); one it contradicts leaves the
pool, so best.json only ever holds a verified object.
"""
import dataclasses
import functools
import logging
import math
import time

import numpy as np

from patternboost import tokens
from patternboost.data import DataConfig
from patternboost.errors import UserError
from patternboost.families import PluginRef, check_context, stage_seed
from patternboost.pool import ElitePool
from patternboost.problem import check_batch, check_contract, check_decoded, check_scores, check_sequences, probe

log = logging.getLogger("patternboost")

INITIAL_CHUNK = 20000  # initial objects per chunk of round 0: a checkpoint boundary
SEARCH_CHUNK = 1000  # local searches per executor call: the unit of parallel work and of failure


def search_chunk(plugin_ref, objects, seed):
    """Local search, score and canonical keys of one chunk, the contract checked: runs in any process."""
    problem, label = plugin_ref.load(), str(plugin_ref.spec)
    improved = problem.local_search(objects, seed)
    check_batch(label, "local_search()", improved, len(objects), like=objects)
    scores = check_scores(label, problem.score(improved), len(objects))
    keys = np.asarray(problem.canonical_key(improved), dtype=np.uint64)
    return improved, scores, keys


def empty_tally():
    return {"searched": 0, "score_sum": 0.0, "round_best": None, "hits": 0, "invalid": 0, "raw_keys": [],
            "failed": 0, "failures": [], "sample_s": 0.0, "search_s": 0.0}


class Constructions:
    first_round = 0

    def __init__(self, problem, config, seed, label, device=None):
        self.problem, self.config, self.seed, self.label = problem, config, seed, label
        self.plugin = PluginRef(problem, label)
        self.vocab_size = problem.vocab_size + tokens.N_SPECIAL
        self.block_size = problem.max_length + 2  # BOS object EOS
        self.pool = ElitePool(config.loop.pool_size)
        self.temperature = config.sample.temperature
        self.best_found = None  # {"score", "round", "object"}, verified
        self.increasing = config.sample.ordered and bool(getattr(problem, "increasing", False))  # see sample()
        self.separator = tokens.separator_of(problem)
        self.tally = empty_tally()
        self.pending = []  # loop.overlap: (round, chunk, candidates) sampled last round, searched beside training

    @staticmethod
    def accepts(plugin):
        return True

    contract = staticmethod(check_contract)

    @staticmethod
    def check(problem, engine, label):
        """What depends on the problem and the engine settings, then the contract's probe: before a run exists."""
        if engine.data != DataConfig():
            raise UserError(f"{label}: [data] settings apply to tasks only (input -> output problems)")
        check_context(label, problem.max_length + 2, engine, "max_length and 2 framing tokens")
        probe(problem, label)

    @staticmethod
    def doing(round_):
        return "searching" if round_ == 0 else "sampling"

    def target(self):
        return self.problem.known_best if getattr(self.problem, "known_optimal", False) else None

    # --- train ----------------------------------------------------------------------------------------------

    def train_steps(self, round_):
        return 0 if round_ == 0 else self.config.train.steps

    def batches(self, round_, model=None):
        """Rows of the pool: step k draws them from a generator seeded by (round seed, k), so any step replays."""
        sequences = self.problem.encode(self.pool.objects)
        check_sequences(self.label, sequences, len(self.pool), self.problem.vocab_size, self.problem.max_length)
        rows = tokens.pack(sequences, self.problem.max_length)
        from patternboost.train import sequence_batches  # torch: kept off the light commands (status, problems)

        return sequence_batches(rows, self.config.train.batch_size, stage_seed(self.seed, round_, "train"))

    # --- propose, judge, absorb -----------------------------------------------------------------------------

    def defers(self, round_):
        """loop.overlap: a learned round's samples are searched during the next round's training."""
        return self.config.loop.overlap and round_ >= 1

    def proposal_chunks(self, round_):
        if round_ == 0:
            return math.ceil(self.config.loop.initial / INITIAL_CHUNK)
        return math.ceil(self.config.sample.count / self.config.sample.batch_size)

    def propose(self, decoder, round_, chunk):
        """Round 0: initial objects. Later: model samples, decoded, each repeated `sample.searches` times."""
        if round_ == 0:
            count = min(INITIAL_CHUNK, self.config.loop.initial - chunk * INITIAL_CHUNK)
            objects = self.problem.initial(count, stage_seed(self.seed, 0, "initial", chunk))
            check_batch(self.label, "initial()", objects, count)
            return {"starts": objects}
        cfg, started = self.config.sample, time.time()
        count = min(cfg.batch_size, cfg.count - chunk * cfg.batch_size)
        rows = self.draw_rows(decoder, count, self.temperature, stage_seed(self.seed, round_, "sample", chunk))
        objects, well_formed = self.decode_rows(rows)
        keys = np.asarray(self.problem.canonical_key(objects), dtype=np.uint64)
        return {"starts": np.repeat(objects, cfg.searches, axis=0), "raw_keys": keys,
                "invalid": int((~well_formed).sum()), "sample_s": time.time() - started}

    def draw_rows(self, decoder, count, temperature, seed):
        """`count` model rows: sampled from scratch, or (sample.edits) pool elites drawn at random with that many
        tokens changed by the model, a learned mutation."""
        cfg = self.config.sample
        if not cfg.edits:
            return decoder.sample(count, temperature, cfg.top_k, seed, self.increasing, cfg.top_p, self.separator)
        elites = self.pool.objects[np.random.default_rng(seed).integers(0, len(self.pool), count)]
        rows = tokens.pack(self.problem.encode(elites), self.problem.max_length)
        return decoder.edit(rows, cfg.edits, temperature, seed, self.increasing, self.separator)

    def decode_rows(self, rows):
        sequences, framed = tokens.unpack(rows)
        like = self.pool.objects if self.pool.objects is not None else self.problem.initial(1, 0)
        objects, decoded = check_decoded(self.label, self.problem.decode(sequences), len(sequences), like)
        return objects, framed & decoded

    def judge(self, candidates, ctx):
        """Local search from every start, SEARCH_CHUNK at a time through the executor."""
        starts, started = candidates["starts"], time.time()
        chunks = [starts[i:i + SEARCH_CHUNK] for i in range(0, len(starts), SEARCH_CHUNK)]
        seeds = [ctx.seed_for("search", ctx.chunk, i) for i in range(len(chunks))]
        outcomes = ctx.map(functools.partial(search_chunk, self.plugin), chunks, seeds, "local search")
        if outcomes is None:
            return None
        return {**candidates, "outcomes": outcomes, "search_s": time.time() - started}

    def absorb(self, verdicts, round_):
        tally = self.tally
        for i, outcome in enumerate(verdicts["outcomes"]):
            if not outcome.ok:
                tally["failed"] += 1
                if len(tally["failures"]) < 5:
                    tally["failures"].append(f"{outcome.failure}: {outcome.detail}")
                log.warning("round %d: a local-search chunk failed (%s): %s", round_, outcome.failure, outcome.detail)
                continue
            improved, scores, keys = outcome.value
            self.pool.merge(improved, scores, keys, round_)
            tally["searched"] += len(scores)
            tally["score_sum"] += float(scores.sum())
            tally["round_best"] = max(float(scores.max()), tally["round_best"] or -math.inf)
            tally["hits"] += self.hits(scores) or 0
        tally["raw_keys"].extend(verdicts.get("raw_keys", np.empty(0, np.uint64)).tolist())
        tally["invalid"] += verdicts.get("invalid", 0)
        tally["sample_s"] += verdicts.get("sample_s", 0.0)
        tally["search_s"] += verdicts["search_s"]

    def reached(self, target):
        return len(self.pool) > 0 and self.pool.scores.max() >= target

    def hits(self, scores):
        known = self.problem.known_best
        return None if known is None else int((scores >= known).sum())

    def close_round(self, round_):
        tally, self.tally = self.tally, empty_tally()
        if not tally["searched"] and (tally["failed"] or not self.pending):  # overlap: none yet is no failure
            first = tally["failures"][0] if tally["failures"] else "no searches ran"
            raise UserError(f"{self.label}: every local-search chunk of round {round_} failed; the first: {first}")
        rejected = self.verify_new_elites(round_)
        self.update_best()
        known = self.problem.known_best
        best = self.best_found["score"] if self.best_found else None
        mean = tally["score_sum"] / tally["searched"] if tally["searched"] else None
        metrics = {"best_score": best, "mean_score": mean,
                   "pool_mean": float(self.pool.scores.mean()), "pool_min": float(self.pool.scores.min()),
                   "pool_size": len(self.pool), "known_best": known,
                   "gap": None if known is None or best is None else known - best,
                   "round_best": tally["round_best"], "searched": tally["searched"],
                   "known_best_hits": None if known is None else tally["hits"],
                   "new_elites": int((self.pool.rounds == round_).sum()), "rejected_elites": rejected,
                   "failed_chunks": tally["failed"], "search_s": round(tally["search_s"], 2)}
        if round_ > 0:
            raw = tally["raw_keys"]
            unique = len(set(raw)) / len(raw) if raw else 1.0
            metrics |= {"invalid_samples": tally["invalid"], "unique_samples": round(unique, 4),
                        "temperature": self.temperature, "sample_s": round(tally["sample_s"], 2)}
            cfg = self.config.sample
            if unique < cfg.min_unique:
                self.temperature = min(cfg.max_temperature, self.temperature + cfg.temperature_step)
        return metrics

    def verify_new_elites(self, round_):
        """Check every elite not yet checked against the problem's independent verify(); drop the contradicted."""
        keep = np.ones(len(self.pool), dtype=bool)
        for i in np.flatnonzero(~self.pool.verified):
            score = float(self.pool.scores[i])
            try:
                checked = float(self.problem.verify(self.pool.objects[i]))
                problem = None if checked == score else f"scored {score:g} but the independent check gives {checked:g}"
            except ValueError as exc:
                problem = f"failed the independent check ({exc})"
            except Exception as exc:
                raise UserError(f"{self.label}: verify() raised {type(exc).__name__}: {exc}") from exc
            if problem:
                log.error("round %d: elite %d %s; removed from the pool", round_, i, problem)
                keep[i] = False
        self.pool.verified[:] = True
        self.pool.keep(keep)
        return int((~keep).sum())

    def update_best(self):
        if len(self.pool) and (self.best_found is None or self.pool.scores[0] > self.best_found["score"]):
            self.best_found = {"score": float(self.pool.scores[0]), "round": int(self.pool.rounds[0]),
                               "object": self.pool.objects[0]}

    # --- record ---------------------------------------------------------------------------------------------

    def publish(self, run, record):
        best = self.best_found
        if best is None or (run.best() or {}).get("score") == best["score"]:
            return
        known, obj = self.problem.known_best, best["object"]
        run.write_best({"problem": self.label, "params": dataclasses.asdict(self.problem.params),
                        "score": best["score"], "round": best["round"], "verified": True,
                        "known_best": known, "gap": None if known is None else known - best["score"],
                        "elapsed_s": record["elapsed_s"], "object": self.problem.to_native(obj),
                        "raw": {"dtype": str(obj.dtype), "data": obj.tolist()}})

    def summary(self, record):
        gap = "" if record["gap"] is None else f" (known {record['known_best']:g}, gap {record['gap']:g})"
        failed = f", {record['failed_chunks']} failed chunks" if record["failed_chunks"] else ""
        mean = "-" if record["mean_score"] is None else f"{record['mean_score']:.2f}"
        return f"best {record['best_score']:g}{gap}, round mean {mean}, pool {record['pool_size']}{failed}"

    def best(self):
        return self.best_found

    def best_line(self):
        return f"best score {self.best_found['score']:g} (round {self.best_found['round']})"

    def state_dict(self):
        return {"pool": self.pool.state_dict(), "temperature": self.temperature, "best": self.best_found,
                "tally": self.tally, "pending": self.pending}

    def load_state_dict(self, state):
        self.pool.load_state_dict(state["pool"])
        self.temperature, self.best_found = state["temperature"], state["best"]
        self.tally = state.get("tally") or empty_tally()
        self.pending = state.get("pending", [])

    def close(self):
        pass

    # --- the CLI --------------------------------------------------------------------------------------------

    @staticmethod
    def status(run):
        metrics, best = run.metrics(), run.best()
        last = metrics[-1] if metrics else {}
        score = "-" if not best else f"{best['score']:g}"
        known = (best or last).get("known_best")
        gap = "" if known is None or not best else f"  known {known:g}  gap {known - best['score']:g}"
        return f"round {last.get('round', '-')}  best {score}{gap}"

    def show(self, run, args):
        best = run.best()
        if best is None:
            raise UserError(f"{args.run_dir} has no best object yet")
        obj = np.asarray(best["raw"]["data"], dtype=best["raw"]["dtype"])
        known = best.get("known_best")
        versus = "" if known is None else f" (known best {known:g}, gap {known - best['score']:g})"
        print(f"{self.label} {dataclasses.asdict(self.problem.params)}")
        print(f"score {best['score']:g}{versus}, found in round {best['round']}, verified independently")
        print(self.problem.render(obj))
        if args.png:
            if not hasattr(self.problem, "draw"):
                raise UserError(f"{self.label} cannot draw pictures")
            self.problem.draw(obj, args.png)
            print(f"picture written to {args.png}")

    def ask(self, decoder, text, beam):
        raise UserError(f"{self.label} builds objects and takes no input: use `patternboost sample`")

    def draw_samples(self, decoder, count, temperature, seed, search, executor):
        """`count` model samples as JSON-ready dicts: decoded, or (search) improved by local search, scored and
        verified."""
        cfg, rows = self.config.sample, []
        for chunk, first in enumerate(range(0, count, cfg.batch_size)):
            rows.append(self.draw_rows(decoder, min(cfg.batch_size, count - first), temperature,
                                       stage_seed(seed, 0, "sample", chunk)))
        objects, well_formed = self.decode_rows(np.concatenate(rows))
        if not search:
            return [{"well_formed": bool(ok), "object": self.problem.to_native(obj)}
                    for obj, ok in zip(objects, well_formed)]
        chunks = [objects[i:i + SEARCH_CHUNK] for i in range(0, len(objects), SEARCH_CHUNK)]
        seeds = [stage_seed(seed, 0, "search", i) for i in range(len(chunks))]
        out = []
        for outcome, start in zip(executor.map(functools.partial(search_chunk, self.plugin), chunks, seeds), chunks):
            if not outcome.ok:
                raise UserError(f"{self.label}: local search failed ({outcome.failure}): {outcome.detail}")
            improved, scores, _ = outcome.value
            for obj, score in zip(improved, scores):
                out.append({"score": float(score), "verified": self.verified(obj, score),
                            "object": self.problem.to_native(obj)})
        return out

    def verified(self, obj, score):
        try:
            return float(self.problem.verify(obj)) == float(score)
        except ValueError:
            return False

