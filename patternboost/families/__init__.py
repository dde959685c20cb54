"""Family kinds: what the loop runs, one module each. The loop (patternboost.loop) knows only this interface.

Every family is the same round:

    train ─► propose (model samples, answers to prompts, or a data source filling itself) ─► judge ─► absorb
          ─► close the round (metrics) ─► publish (best.json, a report) ─► checkpoint

A family kind wraps a user's plugin (a Problem, a Task) and owns all state but the model and the optimizer:

    accepts(plugin), contract(plugin, label), check(plugin, engine, label)
                                  whether a plugin is of this kind (when it names none), its contract checked
                                  on load, and its probe with the engine settings before a run exists
    first_round                   the number of the run's first round
    doing(round)                  what its propose phase is called in messages ("sampling", "evaluating")
    vocab_size, block_size        the model's shape (special tokens included)
    model_inputs                  (optional) more GPTConfig fields: a continuous model's inputs and head
    target()                      the score at which a run stops by default (None: no target)
    train_steps(round)            optimizer steps in this round (0: nothing to learn from yet)
    batches(round, model)         step -> a batch: (inputs, targets) token tensors, or what the family's loss()
                                  takes; a pure function of (seed, round, step) and the checkpointed state (a
                                  source may sample from the model: bootstrapping)
    loss(model, batch)            (optional) the training loss of a batch; default: the token model's
    proposal_chunks(round)        how many chunks the propose phase of this round has
    propose(decoder, round, k)    chunk k's candidates: a pure function of (seed, round, k) and the model
    judge(candidates, ctx)        -> verdicts, or None when stopped; changes no state; heavy work through ctx.map
    absorb(verdicts, round)       the one place state changes during a round
    reached(target)               (optional) whether what this round absorbed already reaches the target: the
                                  round's other chunks are then skipped
    close_round(round)            -> the round's metrics (JSON-ready scalars), ending the round's bookkeeping
    publish(run, record)          write what the run shows (best.json, a report) after the round's metrics line
    summary(record)               one log line for a round
    best()                        {"score", "round", ...} of the best so far, or None
    state_dict(), load_state_dict(state), close()

and, for the CLI (classmethods where no plugin instance is needed):

    status(run)                   one line for `patternboost status`
    show(run, args)               what `patternboost show` prints
    ask(decoder, text, beam)      -> answers to a user's input (`patternboost ask`), JSON-ready
    answer_lines(result)          the same as text lines
    draw_samples(decoder, ...)    -> JSON-ready samples (`patternboost sample`)

Chunks make every phase interruptible and resumable: the loop checks for a stop between chunks and checkpoints at
chunk boundaries, so a round resumes at the chunk it stopped before and ends as an uninterrupted one would.
"""
import dataclasses
import hashlib
import importlib
import os
import sys
import tempfile

import numpy as np

from patternboost.errors import UserError

CHECKPOINT_VERSION = 2  # the layout of Loop.state_dict(); upgrade() reads the earlier one
STAGES = {"initial": 0, "search": 1, "sample": 2, "train": 3, "data": 4, "test": 5, "bootstrap": 6}


def stage_seed(seed, round_, stage, *index):
    """A 63-bit seed for one stage of one round (and chunk): every random draw of a run comes from one of these."""
    words = [seed, round_, STAGES[stage], *index]
    return int(np.random.SeedSequence(words).generate_state(1, np.uint64)[0] >> 1)


@dataclasses.dataclass
class Context:
    """What judge() may use: the run's executor, seeds for the round, the stop flag and a progress callback."""
    executor: object
    seed: int
    round: int
    chunk: int = 0
    timeout: float = 0.0
    stop: object = lambda: False
    progress: object = lambda what, done, total: None

    def seed_for(self, stage, *index):
        return stage_seed(self.seed, self.round, stage, *index)

    def map(self, fn, chunks, seeds, what, timed=True):
        """fn(chunk, seed) for every chunk through the executor: Outcomes in chunk order, or None when stopped.
        timed=False: no executor.timeout (work that must finish, such as making the training set, on a machine
        that may be slow; a dead worker is still an Outcome)."""
        return self.executor.map(fn, chunks, seeds, self.timeout if timed else 0.0, stop=self.stop,
                                 progress=lambda done, total: self.progress(what, done, total))

    def make_whole(self, make, total, per_call, stage, what, label, *index):
        """make(count, seed) for `total` items in calls of `per_call`, untimed, call i seeded by
        seed_for(stage, *index, i): the values in call order, or None when stopped. What round 0 makes must be
        whole: a failed call stops the run (one line naming `label`), which a resume repeats from this chunk."""
        counts = [min(per_call, total - first) for first in range(0, total, per_call)]
        seeds = [self.seed_for(stage, *index, i) for i in range(len(counts))]
        outcomes = self.map(make, counts, seeds, what, timed=False)
        if outcomes is None:
            return None
        for outcome in outcomes:
            if not outcome.ok:
                raise UserError(f"{label}: {what} failed ({outcome.failure}): {outcome.detail}")
        return [outcome.value for outcome in outcomes]


class PluginRef:
    """A plugin that worker processes can rebuild: a spec (or an importable class) and its parameters.

    Pickles as (spec, params), and a plugin file also as its text, so that a worker on another machine (Ray)
    builds the very plugin this process runs: a worker loads the file at its path when that holds the same text,
    and otherwise (another machine, or the file edited since) a copy of the text. Each process builds the plugin
    once. In the process that made it, the plugin instance itself is used."""

    def __init__(self, plugin, label):
        from patternboost.registry import plugin_file  # the registry imports the family kinds

        cls, file = type(plugin), isinstance(label, str) and plugin_file(label)
        self.file = None
        if file:
            path = os.path.abspath(file[0])
            with open(path) as handle:
                self.file = (path, file[1], handle.read())
        self.spec = label if file or not importable(cls) else cls
        self.params = dataclasses.asdict(plugin.params)
        self._plugin = plugin

    def __getstate__(self):
        return {"spec": self.spec, "params": self.params, "file": self.file}

    def __setstate__(self, state):
        self.spec, self.params, self.file, self._plugin = state["spec"], state["params"], state["file"], None

    def load(self):
        if self._plugin is None:
            key = (self.spec, repr(sorted(self.params.items())))
            if key not in _LOADED:
                from patternboost.registry import load_problem  # the registry imports the family kinds

                spec = self.spec if self.file is None else local_copy(*self.file)
                _LOADED[key] = load_problem(spec, **self.params)
            self._plugin = _LOADED[key]
        return self._plugin


def local_copy(path, name, text):
    """The spec of a plugin file holding `text` on this machine: `path` itself when it holds that text, else a copy
    written (atomically) under the temporary folder, named by the text's hash."""
    if os.path.isfile(path):
        with open(path) as handle:
            if handle.read() == text:
                return f"{path}:{name}"
    folder = os.path.join(tempfile.gettempdir(), "patternboost-plugins", hashlib.sha256(text.encode()).hexdigest()[:16])
    copy = os.path.join(folder, os.path.basename(path))
    if not os.path.isfile(copy):
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as handle:
            handle.write(text)
        os.replace(handle.name, copy)
    return f"{copy}:{name}"


_LOADED = {}  # plugins built in this (worker) process, by spec and parameters


def importable(cls):
    """Whether another process can import `cls` by its module name (not so for a file loaded under a private
    name)."""
    module = sys.modules.get(cls.__module__)
    return module is not None and not getattr(module, "__patternboost_file__", None)


def check_context(label, width, engine, what):
    """A plugin whose sequences need more tokens than model.context allows is refused before a run exists."""
    context = engine.model.context
    if context and width > context:
        raise UserError(f"{label}: sequences need {width} tokens ({what}) but model.context is {context}")


KINDS = {  # name -> module and class, imported when asked for (the density kind imports torch, which a worker
    # loading a construction problem need not: it took seconds and pushed chunks past their timeout)
    "discovery": ("patternboost.families.discovery", "Discoveries"),
    "density": ("patternboost.families.density", "Densities"),
    "tasks": ("patternboost.families.tasks", "Tasks"),
    "constructions": ("patternboost.families.constructions", "Constructions")}
UNNAMED = ("tasks", "constructions")  # the kinds a plugin may have without naming it, in the order tried


def kind_of(plugin):
    """The family kind name of a plugin (instance or class): its `family` attribute, else the first of UNNAMED
    that accepts it."""
    named = getattr(plugin, "family", None)
    if named is not None:
        family_class(named)  # a known kind, or one line saying which are
        return named
    return next(name for name in UNNAMED if family_class(name).accepts(plugin))


def family_class(name):
    if name not in KINDS:
        raise UserError(f"unknown family {name!r} (known: {', '.join(KINDS)})")
    module, cls = KINDS[name]
    return getattr(importlib.import_module(module), cls)


def make_family(plugin, config, seed, label, device):
    return family_class(kind_of(plugin))(plugin, config, seed, label, device)


def upgrade(state):
    """A checkpoint of an earlier version in today's layout, or one line saying why it cannot be."""
    version = state.get("version", 1)
    if version == CHECKPOINT_VERSION:
        return state
    if version != 1:
        raise UserError(f"this checkpoint has version {version}; this patternboost reads versions 1 and "
                        f"{CHECKPOINT_VERSION} (upgrade patternboost to resume it)")
    # Version 1 kept the pool, temperature and best at the top level and redid an unfinished sampling or
    # evaluation from its start, as this version does from chunk 0.
    family = {key: state[key] for key in ("pool", "temperature", "best") if key in state}
    return {"version": CHECKPOINT_VERSION, "round": state["round"],
            "phase": "train" if state["phase"] == "train" else "propose", "train_step": state["train_step"],
            "chunk": 0, "losses": state["losses"], "train_s": 0.0, "elapsed": state["elapsed"],
            "model": state["model"], "trainer": state["trainer"], "torch_rng": state["torch_rng"], "family": family}
