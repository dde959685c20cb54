"""Discovery: a Discovery plugin (patternboost.discovery) on the loop, by expert iteration.

Round 0 makes the data that must be fixed for the whole run, in chunks through the executor (in parallel with
the process executor), and keeps it in the checkpoint so a resumed run never makes it again: the held-out test
sets (`test_sizes`, by test_problems()) and, in the budget regime, the `data.budget` training examples. Examples
that are slow to make (symbolic ones, or ones a solver must find) want this. Later rounds train on the [data]
regime over examples(), with `data.found_share` of each batch drawn from the verified finds of earlier rounds.
Propose: beam search of width `sample.beam` (1 when 0) for the held-out test prompts, then for `sample.count`
new problems, `sample.batch_size` prompts per chunk. Judge: verify() of every candidate, one call each through
the executor (a timeout, a dead worker or an exception is a status of its own). Absorb: a new problem is solved
by its most likely solved candidate, and that pair joins the finds.
"""
import functools
import json
import math
import os

import numpy as np

from patternboost import tokens
from patternboost.data import make_source
from patternboost.discovery import check_contract, check_prompts, probe
from patternboost.errors import UserError
from patternboost.families import PluginRef, check_context, stage_seed
from patternboost.families.tasks import typed_prompt
from patternboost.problem import _call
from patternboost.rundir import write_atomic
from patternboost.tasks import FramedPairs, frame, prompt_rows, sequence_width, training_batch


def verify_one(plugin_ref, pair, seed):
    """verify() of one (prompt, answer) pair in any process; an exception is the status "error"."""
    plugin = plugin_ref.load()
    try:
        status = plugin.verify(*pair)
    except Exception:  # noqa: BLE001 - a verifier that fails on one candidate judges it, it does not stop a run
        return "error"
    return status if status in plugin.statuses else "error"


GENERATE_CALL = 250  # examples per generation call in round 0 (the executor's unit)
GENERATE_CHUNK = 16 * GENERATE_CALL  # examples per chunk of round 0 (a checkpoint boundary): calls run in parallel
TEST_CALL = 5  # held-out problems per call in round 0: they may each need a solver


def generate_chunk(plugin_ref, count, seed):
    """`count` framed training rows of examples(count, seed), in any process."""
    return FramedPairs(plugin_ref.load(), str(plugin_ref.spec)).generate(count, seed)


def test_chunk(plugin_ref, name, count, seed):
    """`count` held-out problems of the test set `name`, in any process."""
    plugin = plugin_ref.load()
    return check_prompts(str(plugin_ref.spec), f"test_problems({name!r})",
                         plugin.test_problems(name, count, seed), plugin, count)


def empty_tally():
    return {"tried": 0, "solved": 0, "statuses": {}, "tests": {}}


class Discoveries:

    def __init__(self, plugin, config, seed, label, device=None):
        self.plugin, self.config, self.seed, self.label = plugin, config, seed, label
        self.ref = PluginRef(plugin, label)
        self.vocab_size = plugin.vocab_size + tokens.N_SPECIAL
        self.block_size = sequence_width(plugin)
        self.answer_name = getattr(plugin, "answer_name", "answer")  # the key of a candidate in `ask --json`
        self.found = {"prompts": [], "answers": [], "rounds": [], "statuses": []}  # verified pairs: the new data
        self.generated = []  # budget regime: round 0's chunks of framed example rows
        self.tests = {}  # round 0's held-out test sets: name -> prompts
        self.test_sizes = dict(getattr(plugin, "test_sizes", None) or {})
        self.generate_chunks = math.ceil(config.data.budget / GENERATE_CHUNK) if config.data.regime == "budget" else 0
        self.first_round = 0
        self.tally = empty_tally()
        self.best_found = None

    @staticmethod
    def accepts(plugin):
        return False  # a discovery plugin says so: family = "discovery"

    contract = staticmethod(check_contract)

    @staticmethod
    def check(plugin, engine, label):
        check_context(label, sequence_width(plugin), engine, "prompt, answer and 3 framing tokens")
        probe(plugin, label)

    @staticmethod
    def doing(round_):
        return "generating" if round_ == 0 else "verifying"

    def target(self):
        return None

    # --- train ----------------------------------------------------------------------------------------------

    def train_steps(self, round_):
        return 0 if round_ == 0 else self.config.train.steps

    @functools.cached_property
    def data_source(self):
        rows = np.concatenate(self.generated).astype(np.int64) if self.generated else None
        return make_source(FramedPairs(self.plugin, self.label), self.config.data, self.config.train.batch_size,
                           stage_seed(self.seed, 0, "data"), finite_set=rows)

    def batches(self, round_, model=None):
        """The data source's batch (round - 1) * steps + k, each row replaced by a verified find with probability
        data.found_share, scaled down while there are fewer finds than rows in a batch (a handful of finds must
        not fill a quarter of every batch). The finds are fixed while a round trains, so any step replays exactly."""
        offset, found = (round_ - 1) * self.config.train.steps, len(self.found["prompts"])
        share = self.config.data.found_share * min(1.0, found / self.config.train.batch_size)

        def batch(step):
            rows = self.data_source(offset + step)
            rng = np.random.default_rng((stage_seed(self.seed, round_, "train"), step))
            mixed = np.flatnonzero(rng.random(len(rows)) < share)
            if len(mixed):
                picks = rng.integers(0, found, size=len(mixed))
                rows = rows.copy()
                rows[mixed] = frame([self.found["prompts"][i] for i in picks],
                                    [self.found["answers"][i] for i in picks], rows.shape[1])
            return training_batch(rows)
        return batch

    def close(self):
        pass

    # --- propose, judge, absorb -----------------------------------------------------------------------------

    @functools.cached_property
    def test_chunks(self):
        size = self.config.sample.batch_size
        return [(name, first) for name, prompts in self.tests.items() for first in range(0, len(prompts), size)]

    def proposal_chunks(self, round_):
        if round_ == 0:
            return self.generate_chunks + len(self.test_sizes)
        return len(self.test_chunks) + math.ceil(self.config.sample.count / self.config.sample.batch_size)

    def propose(self, decoder, round_, chunk):
        if round_ == 0 and chunk < self.generate_chunks:
            return {"generate": min(GENERATE_CHUNK, self.config.data.budget - chunk * GENERATE_CHUNK)}
        if round_ == 0:
            name = list(self.test_sizes)[chunk - self.generate_chunks]
            return {"test_set": name, "count": self.test_sizes[name]}
        size = self.config.sample.batch_size
        if chunk < len(self.test_chunks):
            name, first = self.test_chunks[chunk]
            prompts = self.tests[name][first:first + size]
        else:
            name, first = None, (chunk - len(self.test_chunks)) * size
            count = min(size, self.config.sample.count - first)
            prompts = _call(self.label, "problems()", self.plugin.problems, count,
                            stage_seed(self.seed, round_, "sample", chunk))
        beams = decoder.beams_batch(prompt_rows(prompts), max(1, self.config.sample.beam), self.plugin.max_answer + 1)
        return {"test": name, "prompts": [np.asarray(p) for p in prompts],
                "candidates": [[answer - tokens.N_SPECIAL for answer, _ in found] for found in beams]}

    def judge(self, candidates, ctx):
        if "generate" in candidates:
            values = ctx.make_whole(functools.partial(generate_chunk, self.ref), candidates["generate"],
                                    GENERATE_CALL, "data", "generating examples", self.label, ctx.chunk)
            return None if values is None else {"rows": np.concatenate(values)}
        if "test_set" in candidates:
            name = candidates["test_set"]
            values = ctx.make_whole(functools.partial(test_chunk, self.ref, name), candidates["count"],
                                    TEST_CALL, "test", f"making the test set {name!r}", self.label, ctx.chunk)
            return None if values is None else {"test_set": name, "prompts": [p for v in values for p in v]}
        pairs = [(prompt, answer) for prompt, answers in zip(candidates["prompts"], candidates["candidates"])
                 for answer in answers]
        seeds = [ctx.seed_for("search", ctx.chunk, i) for i in range(len(pairs))]
        outcomes = ctx.map(functools.partial(verify_one, self.ref), pairs, seeds, "verify")
        if outcomes is None:
            return None
        statuses = iter(o.value if o.ok else {"raised": "error"}.get(o.failure, o.failure) for o in outcomes)
        return {**candidates, "statuses": [[next(statuses) for _ in answers] for answers in candidates["candidates"]]}

    def absorb(self, verdicts, round_):
        if "rows" in verdicts:  # kept compact: the set lives in every checkpoint
            rows = verdicts["rows"]
            self.generated.append(rows.astype(np.uint16) if self.vocab_size <= 2**16 else rows)
            return
        if "test_set" in verdicts:
            self.tests[verdicts["test_set"]] = verdicts["prompts"]
            return
        name, tally = verdicts["test"], self.tally
        for prompt, answers, statuses in zip(verdicts["prompts"], verdicts["candidates"], verdicts["statuses"]):
            solved, status = next(((a, s) for a, s in zip(answers, statuses) if s in self.plugin.solved), (None, None))
            if name is not None:
                done, total = tally["tests"].get(name, (0, 0))
                tally["tests"][name] = (done + (solved is not None), total + 1)
                continue
            tally["tried"] += 1
            best_status = next((s for s in statuses if s in self.plugin.solved), statuses[0] if statuses else "none")
            tally["statuses"][best_status] = tally["statuses"].get(best_status, 0) + 1
            if solved is not None:
                tally["solved"] += 1
                self.found["prompts"].append(prompt)
                self.found["answers"].append(np.asarray(solved))
                self.found["rounds"].append(round_)
                self.found["statuses"].append(status)

    def close_round(self, round_):
        if round_ == 0:
            return {"examples": int(sum(len(rows) for rows in self.generated)), "found_total": 0,
                    "discovery_rate": None, **{f"test_{name}": len(p) for name, p in self.tests.items()}}
        tally, self.tally = self.tally, empty_tally()
        rate = tally["solved"] / tally["tried"] if tally["tried"] else None
        found = len(self.found["prompts"])
        if self.best_found is None or found > self.best_found["score"]:
            self.best_found = {"score": found, "round": round_}
        return {"tried": tally["tried"], "solved": tally["solved"], "discovery_rate": rate, "found_total": found,
                **{f"solved_{name}": done / total for name, (done, total) in tally["tests"].items()},
                **{f"status_{status}": n for status, n in sorted(tally["statuses"].items())}}

    # --- record ---------------------------------------------------------------------------------------------

    def publish(self, run, record):
        """found.json: every verified pair so far, as text where the plugin can write it."""
        found = self.found
        pairs = [{"problem": self.text("format_prompt", p), "answer": self.text("format_answer", a), "status": s,
                  "round": r} for p, a, r, s in zip(found["prompts"], found["answers"], found["rounds"], found["statuses"])]
        write_atomic(run.file("found.json"), json.dumps({"found": pairs}, indent=1) + "\n")

    def text(self, method, tokens_):
        render = getattr(self.plugin, method, None)
        try:
            return render(tokens_) if callable(render) else " ".join(map(str, tokens_.tolist()))
        except ValueError:
            return "(unparsable)"

    def summary(self, record):
        if record["round"] == 0:
            tests = "".join(f", {len(p)} {name} test problems" for name, p in self.tests.items())
            return f"{record['examples']:,} training examples generated{tests}"
        rate = "-" if record["discovery_rate"] is None else f"{record['discovery_rate']:.1%}"
        tests = "".join(f", {k} {v:.1%}" for k, v in record.items() if k.startswith("solved_"))
        return f"discovery {rate} ({record['solved']}/{record['tried']}), found {record['found_total']}{tests}"

    def best(self):
        return self.best_found

    def best_line(self):
        return f"{self.best_found['score']} verified finds"

    def state_dict(self):
        return {"found": self.found, "tally": self.tally, "best": self.best_found, "generated": self.generated,
                "tests": self.tests}

    def load_state_dict(self, state):
        self.found, self.tally, self.best_found = state["found"], state["tally"], state["best"]
        self.generated, self.tests = state["generated"], state["tests"]

    # --- the CLI --------------------------------------------------------------------------------------------

    @staticmethod
    def status(run):
        last = (run.metrics() or [{}])[-1]
        if "found_total" not in last:
            return "round -  nothing verified yet"
        rate = "-" if last["discovery_rate"] is None else f"{last['discovery_rate']:.1%}"
        return f"round {last['round']}  discovery {rate}  found {last['found_total']}"

    def show(self, run, args):
        path = run.file("found.json")
        if not os.path.exists(path):
            raise UserError(f"{args.run_dir} has found nothing yet (found.json is written after each round)")
        with open(path) as f:
            found = json.load(f)["found"]
        rounds = [r for r in run.metrics() if r["round"] >= 1]
        tests = sorted({k for r in rounds for k in r if k.startswith("solved_")})
        print("round  discovery        " + "".join(f"{k[7:]:>10}" for k in tests))
        for r in rounds:
            rate = "-" if r["discovery_rate"] is None else f"{r['discovery_rate']:.1%}"
            print(f"{r['round']:>5}  {rate:>6} ({r['solved']:>3}/{r['tried']:<3})"
                  + "".join(f"{r[k]:>10.1%}" if k in r else f"{'-':>10}" for k in tests))
        print(f"{self.label}: {len(found)} verified finds")
        for pair in found:
            print(f"round {pair['round']}: {pair['problem']}  ->  {pair['answer']}  [{pair['status']}]")

    def ask(self, decoder, text, beam):
        """Distinct candidates for a user's problem, each verified here (no timeout: the user waits), solved ones
        first."""
        prompt = typed_prompt(self.plugin, self.label, text)
        found = decoder.beams_batch(prompt_rows([prompt]), max(1, beam), self.plugin.max_answer + 1)[0]
        candidates, seen = [], set()
        for answer, logp in found:
            answer = answer - tokens.N_SPECIAL
            text = self.text("format_answer", answer)
            if text in seen and text != "(unparsable)":  # two token sequences for one answer: keep the likelier
                continue
            seen.add(text)
            status = verify_one(self.ref, (prompt, answer), 0)
            candidates.append({self.answer_name: text, "status": status, "log_prob": round(float(logp), 4)})
        candidates.sort(key=lambda c: c["status"] not in self.plugin.solved)  # stable: likelier first within
        return {"input": text, "candidates": candidates}

    def answer_lines(self, result):
        if not result["candidates"]:
            return [f"{result['input']}: no candidate (the model did not end one within the answer length)"]
        return [f"{rank}. {c[self.answer_name]}  [{c['status']}]  log p {c['log_prob']:.3f}"
                for rank, c in enumerate(result["candidates"], 1)]

    def draw_samples(self, decoder, count, temperature, seed, search, executor):
        raise UserError(f"{self.label} answers problems: use `patternboost ask RUN_DIR \"PROBLEM\"`")

