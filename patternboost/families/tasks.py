"""Tasks: an input -> output Task plugin (patternboost.tasks) on the loop.

Data source: the [data] regime (patternboost.data); batch k of the whole run is a function of k alone, round r
trains on batches (r - 1) * steps .. r * steps - 1. Propose: answers to the test prompts, greedy or by beam
search, a batch of prompts per chunk. Judge: nothing to run; the answers are kept until the last chunk, then
close_round() has the task's evaluate() score them all. Feed back: nothing; publish() writes the report.
"""
import dataclasses
import functools
import os
import shutil
import time

import numpy as np

from patternboost import tokens
from patternboost.data import Prefetcher, make_source
from patternboost.errors import UserError
from patternboost.families import PluginRef, check_context, stage_seed
from patternboost.problem import _call
from patternboost.report import scalars, write_report
from patternboost.tasks import (
    FramedPairs,
    check_metrics,
    check_pairs,
    check_task_contract,
    framed_task,
    is_task,
    probe_task,
    prompt_rows,
    sequence_width,
    training_batch,
)


class Tasks:
    first_round = 1

    def __init__(self, task, config, seed, label, device=None):
        self.task, self.config, self.seed, self.label = task, config, seed, label
        self.device_type = getattr(device, "type", "cpu")
        self.vocab_size = task.vocab_size + tokens.N_SPECIAL
        self.block_size = sequence_width(task)
        self.best_found = None  # {"score": accuracy, "round"}
        self.answers = {}  # test set -> (predictions, ended) of the round so far
        self.report = None  # the last evaluation's metrics, for publish()
        self.eval_s = 0.0

    @staticmethod
    def accepts(plugin):
        return is_task(plugin)

    contract = staticmethod(check_task_contract)

    @staticmethod
    def check(task, engine, label):
        """What depends on the task and the engine settings, then the contract's probe: before a run exists."""
        if engine.data.primers and not callable(getattr(task, "long_examples", None)):
            raise UserError(f"{label}: data.primers needs long examples, and this task has no long_examples()")
        check_context(label, sequence_width(task), engine, "prompt, answer and 3 framing tokens")
        probe_task(task, label)

    @staticmethod
    def doing(round_):
        return "evaluating"

    def target(self):
        return None

    # --- train ----------------------------------------------------------------------------------------------

    def train_steps(self, round_):
        return self.config.train.steps

    def batches(self, round_, model=None):
        """The data source's batch (round - 1) * steps + k at local step k."""
        offset = (round_ - 1) * self.config.train.steps
        return lambda step: training_batch(self.data_source(offset + step))

    @functools.cached_property
    def data_source(self):
        source = make_source(FramedPairs(self.task, self.label), self.config.data, self.config.train.batch_size,
                             stage_seed(self.seed, 0, "data"))
        workers = self.config.data.workers
        if workers == -1:  # a GPU trains faster than one process generates; on CPU the cores are training's
            workers = 0 if self.device_type == "cpu" else min(8, max(1, (os.cpu_count() or 2) - 1))
        if not workers:
            return source
        ref = PluginRef(self.task, self.label)
        return Prefetcher(source, functools.partial(framed_task, ref.spec, ref.params, self.label), workers)

    def close(self):
        source = self.__dict__.pop("data_source", None)
        if hasattr(source, "close"):
            source.close()

    # --- propose, judge, absorb -----------------------------------------------------------------------------

    @functools.cached_property
    def test_sets(self):
        sets = _call(self.label, "test_sets()", self.task.test_sets, stage_seed(self.seed, 0, "test"))
        return {name: check_pairs(self.label, f"test_sets()[{name!r}]", pairs, self.task)
                for name, pairs in sets.items()}

    @functools.cached_property
    def test_chunks(self):
        """[(test set, first prompt, last prompt)]: the propose phase's chunks, sample.batch_size prompts each."""
        size = self.config.sample.batch_size
        return [(name, first, min(first + size, len(prompts)))
                for name, (prompts, _) in self.test_sets.items() for first in range(0, len(prompts), size)]

    def proposal_chunks(self, round_):
        return len(self.test_chunks)

    def propose(self, decoder, round_, chunk):
        name, first, last = self.test_chunks[chunk]
        started = time.time()
        answers, ended = decoder.answer(prompt_rows(self.test_sets[name][0][first:last]), self.task.max_answer + 1,
                                        self.config.sample.beam)
        return {"name": name, "predictions": [a - tokens.N_SPECIAL for a in answers], "ended": list(ended),
                "eval_s": time.time() - started}

    def judge(self, candidates, ctx):
        done = sum(len(p) for p, _ in self.answers.values()) + len(candidates["predictions"])
        ctx.progress("evaluate", done, sum(len(p) for p, _ in self.test_sets.values()))
        return candidates  # the task's evaluate() judges all the answers at once, in close_round()

    def absorb(self, verdicts, round_):
        predictions, ended = self.answers.setdefault(verdicts["name"], ([], []))
        predictions += verdicts["predictions"]
        ended += verdicts["ended"]
        self.eval_s += verdicts["eval_s"]

    def close_round(self, round_):
        results = {name: (prompts, answers, *self.answers[name]) for name, (prompts, answers) in self.test_sets.items()}
        metrics = check_metrics(self.label, _call(self.label, "evaluate()", self.task.evaluate, results))
        self.answers = {}
        step = round_ * self.config.train.steps
        data_stats = self.data_source.stats(step)
        if self.best_found is None or metrics["accuracy"] > self.best_found["score"]:
            self.best_found = {"score": metrics["accuracy"], "round": round_}
        self.report = {"metrics": metrics, "step": step, "data_stats": data_stats}
        eval_s, self.eval_s = self.eval_s, 0.0
        return {"step": step, "examples": data_stats["examples"], **scalars(metrics),
                "distinct_examples": round(data_stats["distinct"]), "repetitions": data_stats["repetitions"],
                "eval_s": round(eval_s, 2)}

    # --- record ---------------------------------------------------------------------------------------------

    def publish(self, run, record):
        if self.report is None:
            return
        history = [{k: v for k, v in r.items() if k not in ("train_s", "eval_s", "session_s", "search_s")}
                   for r in run.metrics()]
        data_stats = self.report["data_stats"]
        write_report(run, {**self.report["metrics"], "run": {
            "task": self.label, "params": dataclasses.asdict(self.task.params),
            "data": dataclasses.asdict(self.config.data), "round": record["round"], "step": self.report["step"],
            "examples": data_stats["examples"], "data_stats": data_stats, "elapsed_s": record["elapsed_s"]},
            "history": history})

    def summary(self, record):
        loss = record["train_loss"]
        return (f"step {record['step']}, accuracy {record['accuracy']:.4f}, train loss "
                f"{float('nan') if loss is None else loss:.4f}")

    def best(self):
        return self.best_found

    def best_line(self):
        return f"best accuracy {self.best_found['score']:g} (round {self.best_found['round']})"

    def state_dict(self):
        return {"best": self.best_found, "answers": self.answers, "eval_s": self.eval_s}

    def load_state_dict(self, state):
        self.best_found = state["best"]
        self.answers, self.eval_s = state.get("answers", {}), state.get("eval_s", 0.0)

    # --- the CLI --------------------------------------------------------------------------------------------

    @staticmethod
    def status(run):
        last = (run.metrics() or [{}])[-1]
        if "accuracy" not in last:
            return "round -  no evaluation yet"
        return f"round {last['round']}  step {last['step']}  accuracy {last['accuracy']:.4f}"

    def show(self, run, args):
        path = run.file("report.md")
        if not os.path.exists(path):
            raise UserError(f"{args.run_dir} has no report yet (a task run writes one after each round)")
        with open(path) as f:
            print(f.read(), end="")
        if args.png:  # the accuracy curve; the other plots lie beside it, report-*.png
            try:
                shutil.copyfile(run.file("report-history.png"), args.png)
            except OSError as exc:
                raise UserError(f"cannot write {args.png}: {exc.strerror}") from exc
            print(f"picture written to {args.png}")

    def ask(self, decoder, text, beam):
        """The model's answers to a user's input: the most likely first; each rendered and, where the task can
        tell, checked."""
        prompt = typed_prompt(self.task, self.label, text)
        row = prompt_rows([prompt])[0]
        if beam:
            answers = decoder.beams_batch([row], beam, self.task.max_answer + 1)[0]
        else:
            (answer,), (ended,) = decoder.answer([row], self.task.max_answer + 1, 0)
            answers = [(answer, None)] if ended else []
        out = []
        for tokens_, logp in answers:
            answer = tokens_ - tokens.N_SPECIAL
            out.append({"answer": self.render(answer), "tokens": answer.tolist(),
                        "log_prob": None if logp is None else round(float(logp), 4),
                        "correct": self.is_correct(prompt, answer)})
        return {"input": text, "prompt": prompt.tolist(), "answers": out}

    @staticmethod
    def answer_lines(result):
        if not result["answers"]:
            return [f"{result['input']}: no answer (the model did not end one within the answer length)"]
        lines = []
        for rank, answer in enumerate(result["answers"], 1):
            logp = "" if answer["log_prob"] is None else f"  log p {answer['log_prob']:.3f}"
            check = {True: "  correct", False: "  wrong", None: ""}[answer["correct"]]
            lines.append(f"{rank}. {answer['answer']}{logp}{check}")
        return lines

    def render(self, answer):
        render = getattr(self.task, "format_answer", None)
        if not callable(render):
            return " ".join(map(str, answer.tolist()))
        try:
            return render(answer)
        except ValueError:
            return "(unparsable: " + " ".join(map(str, answer.tolist())) + ")"

    def is_correct(self, prompt, answer):
        check = getattr(self.task, "check_answer", None)
        return bool(check(prompt, answer)) if callable(check) else None

    def draw_samples(self, decoder, count, temperature, seed, search, executor):
        raise UserError(f"{self.label} answers inputs: use `patternboost ask RUN_DIR \"INPUT\"`")


def typed_prompt(plugin, label, text):
    """The prompt tokens of what a user typed, through the plugin's parse_input(); one line when it cannot."""
    parse = getattr(plugin, "parse_input", None)
    if not callable(parse):
        raise UserError(f"{label} cannot read typed input (it has no parse_input())")
    try:
        prompt = np.asarray(parse(text), dtype=np.int64)
    except ValueError as exc:
        raise UserError(f"{label}: cannot read {text!r}: {exc}") from exc
    check_pairs(label, "parse_input()", ([prompt], [np.zeros(1, dtype=np.int64)]), plugin)
    return prompt
