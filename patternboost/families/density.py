"""Density: a Density plugin (patternboost.density) on the loop, a continuous model extrapolating in length.

Round 0 makes the truth through the executor, in calls of TRUTH_CALL sequences (in parallel with the process
executor): `train_events` sequences, of which those up to train_length are the training set, and `test_events`
held-out ones of every length. It then fits the plugin's preprocessing on the training set. The truth and the fit
are kept in the checkpoint, so a resumed run never makes them again.

Each later round trains the continuous model (patternboost.mixture) on the extrapolation method's loss, then
samples `sample.count` sequences of up to max_length elements, `sample.batch_size` per chunk, and scores the model
on held-out truth (the test NLL of sequences up to train_length); close_round() has the plugin evaluate the
generated sequences against the test truth. Bootstrapping samples inside training: its FIFO of generated sequences
is in the checkpoint, and each refill is seeded by (run seed, round, step), so a resumed run trains identically.
"""
import functools
import math

import numpy as np
import torch

from patternboost.density import check_contract
from patternboost.errors import UserError
from patternboost.families import PluginRef, check_context, stage_seed
from patternboost.mixture import log_likelihood, sample
from patternboost.problem import _call

TRUTH_CALL = 2000  # truth sequences per call in round 0 (the executor's unit)
NLL_EVENTS = 5000  # held-out sequences the test NLL is measured on


def truth_chunk(plugin_ref, count, seed):
    """(lengths, x) of `count` truth sequences, in any process."""
    plugin = plugin_ref.load()
    lengths, x = plugin.truth(count, seed)
    return checked(str(plugin_ref.spec), "truth()", lengths, x, plugin.n_features, count)


def checked(label, what, lengths, x, n_features, count=None):
    """(lengths int64, x float32) of a plugin's sequences, or a one-line UserError saying how they are wrong."""
    lengths, x = np.asarray(lengths), np.asarray(x)
    if lengths.ndim != 1 or not np.issubdtype(lengths.dtype, np.integer) or (count is not None and len(lengths) != count):
        raise UserError(f"{label}: {what} must return {count or 'N'} integer lengths")
    if x.ndim != 3 or x.shape[0] != len(lengths) or x.shape[2] != n_features:
        raise UserError(f"{label}: {what} must return x of shape (N, width, {n_features})")
    if len(lengths) and (lengths.min() < 0 or lengths.max() > x.shape[1]):
        raise UserError(f"{label}: {what} returned lengths outside 0 .. width = {x.shape[1]}")
    present = np.arange(x.shape[1])[None, :] < lengths[:, None]
    if not np.isfinite(x[present]).all():
        raise UserError(f"{label}: {what} returned NaN or infinite values inside a sequence")
    return lengths.astype(np.int64), x.astype(np.float32)


def join(parts):
    """One (lengths, x) of (lengths, x) parts of different widths, NaN-padded, in order."""
    width = max(x.shape[1] for _, x in parts)
    xs = [np.pad(x, ((0, 0), (0, width - x.shape[1]), (0, 0)), constant_values=np.nan) for _, x in parts]
    return np.concatenate([lengths for lengths, _ in parts]), np.concatenate(xs)


def upto(sequences, length):
    """The sequences no longer than `length`, cut to that width."""
    lengths, x = sequences
    keep = lengths <= length
    return lengths[keep], x[keep, :length]


class Densities:
    first_round = 0

    def __init__(self, plugin, config, seed, label, device=None):
        self.plugin, self.config, self.seed, self.label = plugin, config, seed, label
        self.ref = PluginRef(plugin, label)
        self.extrapolation = plugin.extrapolation
        self.vocab_size, self.block_size = 0, plugin.max_length + 1  # the start vector, then the elements
        self.model_inputs = {"inputs": "continuous", "n_features": plugin.n_features, "n_types": plugin.n_types,
                             "components": plugin.components, "periodic": tuple(getattr(plugin, "periodic", ()))}
        self.truth = {}  # "train", "test" -> (lengths, x) as the plugin made them
        self.fitted = None  # the plugin's preprocessing, fitted on the training set at the end of round 0
        self.generated = []  # this round's chunks of generated (lengths, x)
        self.latest = None  # the last round's generated sequences, for publish()
        self.test_nll = None
        self.buffer = None  # bootstrap FIFO: float32 (K, train_length + 1, n_features) encoded sequences
        self.buffer_rate = 0.0  # the share of the last bootstrap sampling that was longer than train_length

    @staticmethod
    def accepts(plugin):
        return False  # a density plugin says so: family = "density"

    contract = staticmethod(check_contract)

    @staticmethod
    def check(plugin, engine, label):
        check_context(label, plugin.max_length + 1, engine, "the start and max_length elements")

    @staticmethod
    def doing(round_):
        return "making the truth" if round_ == 0 else "sampling"

    def target(self):
        return None

    # --- train ----------------------------------------------------------------------------------------------

    def train_steps(self, round_):
        return 0 if round_ == 0 else self.config.train.steps

    @functools.cached_property
    def training_set(self):
        """(lengths, encoded x) of the training truth (sequences up to train_length)."""
        lengths, x = self.truth["train"]
        encoded = self.finite(_call(self.label, "encode()", self.plugin.encode, lengths, x, self.fitted), "encode()",
                              len(lengths))
        encoded = np.pad(encoded, ((0, 0), (0, self.plugin.train_length - encoded.shape[1]), (0, 0)))  # full width
        return torch.from_numpy(lengths), torch.from_numpy(encoded)

    def finite(self, encoded, what, count):
        encoded = np.asarray(encoded, dtype=np.float32)
        if encoded.shape[0] != count or encoded.ndim != 3 or not np.isfinite(encoded).all():
            raise UserError(f"{self.label}: {what} must return finite float arrays of shape (N, width, n_features)")
        return encoded

    @functools.cached_property
    def stop_target(self):
        """The perturbed method's target: as given, or 1 - N(L) / N(L - 1) at L = train_length (staircase)."""
        if self.extrapolation.stop_target >= 0:
            return self.extrapolation.stop_target
        counts = np.bincount(self.truth["train"][0], minlength=self.plugin.train_length + 1)
        below, at = counts[self.plugin.train_length - 1], counts[self.plugin.train_length]
        if not below:
            raise UserError(f"{self.label}: no training sequence of length train_length - 1 to set the stop target "
                            f"from (give stop_target)")
        return float(min(max(1 - at / below, 0.0), 0.99))

    @functools.cached_property
    def modelled(self):
        return self.plugin.modelled(self.fitted)

    def bootstrapping(self, step):
        """Whether the run's step `step` (over all rounds) is past the bootstrap warm-up."""
        return self.extrapolation.method == "bootstrap" and step >= self.extrapolation.warmup

    def batches(self, round_, model=None):
        """Step k: rows of the training set drawn from a generator seeded by (round seed, k); bootstrapping, each
        row a FIFO sequence with the method's share, after a FIFO refill when one is due at this step."""
        lengths, x = self.training_set
        size, ex = self.config.train.batch_size, self.extrapolation
        offset = (round_ - 1) * self.config.train.steps

        def batch(step):
            run_step = offset + step
            if self.bootstrapping(run_step) and (run_step - ex.warmup) % ex.every == 0:
                self.refill(model, round_, step)
            rng = np.random.default_rng((stage_seed(self.seed, round_, "train"), step))
            pick = torch.from_numpy(rng.integers(0, len(lengths), size=size))
            rows, row_lengths = x[pick], lengths[pick]
            if not self.bootstrapping(run_step):
                return row_lengths, rows, self.plugin.train_length if ex.method in ("reduced", "bootstrap") else None
            share = ex.share or self.buffer_rate
            mixed = np.flatnonzero(rng.random(size) < share) if self.buffer is not None and len(self.buffer) else []
            rows = torch.cat((rows, rows.new_zeros(size, 1, rows.shape[2])), dim=1)
            if len(mixed):
                rows[mixed] = torch.from_numpy(self.buffer[rng.integers(0, len(self.buffer), size=len(mixed))])
                row_lengths = row_lengths.clone()
                row_lengths[mixed] = self.plugin.train_length + 1
            return row_lengths, rows, self.plugin.train_length + 1
        return batch

    def refill(self, model, round_, step):
        """Sample from the model; the sequences longer than train_length join the FIFO (the oldest leave)."""
        ex, longest = self.extrapolation, self.plugin.train_length + 1
        generator = torch.Generator(device=next(model.parameters()).device)
        generator.manual_seed(stage_seed(self.seed, round_, "bootstrap", step))
        lengths, x = sample(model, ex.samples, longest, temperature=1.0, min_length=self.plugin.min_length,
                            modelled=self.modelled, batch_size=ex.samples, generator=generator)
        model.train()
        longer = x[lengths == longest]
        self.buffer_rate = len(longer) / len(lengths)
        self.buffer = longer if self.buffer is None else np.concatenate((self.buffer, longer))[-ex.buffer:]

    def loss(self, model, batch):
        """Mean negative log-likelihood per sequence. batch: (lengths, x, the length whose final stop is not
        scored, or None); the perturbed method's stop target replaces 1 at the end of train_length sequences."""
        lengths, x, drop = batch
        device = next(model.parameters()).device
        lengths, x = lengths.to(device), x.to(device)
        targets = None
        if self.extrapolation.method == "perturbed":
            t = torch.arange(x.shape[1] + 1, device=device)[None, :]
            end = t == lengths[:, None]
            targets = end.float().masked_fill(end & (lengths[:, None] == self.plugin.train_length), self.stop_target)
        likelihood = log_likelihood(model, x, lengths, self.plugin.min_length, self.modelled,
                                    drop or self.plugin.train_length, targets)
        return likelihood.nll(drop_max_stop=drop is not None).mean()

    def close(self):
        pass

    # --- propose, judge, absorb -----------------------------------------------------------------------------

    def proposal_chunks(self, round_):
        if round_ == 0:
            return 2
        return math.ceil(self.config.sample.count / self.config.sample.batch_size) + 1  # + the test NLL

    def propose(self, decoder, round_, chunk):
        if round_ == 0:
            name = ("train", "test")[chunk]
            return {"truth": name, "count": getattr(self.plugin, f"{name}_events")}
        samples = self.proposal_chunks(round_) - 1
        if chunk == samples:
            return {"test_nll": self.held_out_nll(decoder.model)}
        size = self.config.sample.batch_size
        count = min(size, self.config.sample.count - chunk * size)
        lengths, x = sample(decoder.model, count, self.plugin.max_length,
                            seed=stage_seed(self.seed, round_, "sample", chunk),
                            temperature=self.config.sample.temperature, min_length=self.plugin.min_length,
                            modelled=self.modelled, batch_size=count)
        return {"lengths": lengths, "x": x, "seed": stage_seed(self.seed, round_, "sample", chunk, 1)}

    @torch.no_grad()
    def held_out_nll(self, model):
        """Mean NLL per sequence (the full likelihood) of held-out truth sequences up to train_length."""
        lengths, x = upto(self.truth["test"], self.plugin.train_length)
        lengths, x = lengths[:NLL_EVENTS], x[:NLL_EVENTS]
        encoded = self.finite(self.plugin.encode(lengths, x, self.fitted), "encode()", len(lengths))
        device = next(model.parameters()).device
        model.eval()
        likelihood = log_likelihood(model, torch.from_numpy(encoded).to(device), torch.from_numpy(lengths).to(device),
                                    self.plugin.min_length, self.modelled, self.plugin.train_length)
        return float(likelihood.nll().mean())

    def judge(self, candidates, ctx):
        if "truth" in candidates:
            name = candidates["truth"]
            values = ctx.make_whole(functools.partial(truth_chunk, self.ref), candidates["count"], TRUTH_CALL,
                                    "data" if name == "train" else "test", f"making the {name} truth", self.label)
            return None if values is None else {"truth": name, "sequences": join(values)}
        if "test_nll" in candidates:
            return candidates
        x = _call(self.label, "decode()", self.plugin.decode, candidates["lengths"], candidates["x"], self.fitted,
                  candidates["seed"])
        return {"generated": checked(self.label, "decode()", candidates["lengths"], x, self.plugin.n_features)}

    def absorb(self, verdicts, round_):
        if "truth" in verdicts:  # kept only as wide as it is used: the truth lives in every checkpoint
            lengths, x = verdicts["sequences"]
            if verdicts["truth"] == "train":
                lengths, x = upto((lengths, x), self.plugin.train_length)
            self.truth[verdicts["truth"]] = lengths, x[:, :self.plugin.max_length]
        elif "test_nll" in verdicts:
            self.test_nll = verdicts["test_nll"]
        else:
            self.generated.append(verdicts["generated"])

    def close_round(self, round_):
        if round_ == 0:
            lengths, x = self.truth["train"]
            if not len(lengths):
                raise UserError(f"{self.label}: no training truth sequence is as short as train_length "
                                f"{self.plugin.train_length}")
            self.fitted = _call(self.label, "fit()", self.plugin.fit, lengths, x)
            return {"train_events": len(lengths), "train_made": self.plugin.train_events,
                    "test_events": len(self.truth["test"][0])}
        self.latest, self.generated = join(self.generated), []
        metrics = _call(self.label, "evaluate()", self.plugin.evaluate, self.truth["test"], self.latest, self.fitted)
        extra = {"buffer": 0 if self.buffer is None else len(self.buffer), "buffer_rate": self.buffer_rate}
        return {"test_nll": self.test_nll, **metrics, **(extra if self.extrapolation.method == "bootstrap" else {})}

    # --- record ---------------------------------------------------------------------------------------------

    def publish(self, run, record):
        plot = getattr(self.plugin, "plot", None)
        if record["round"] >= 1 and callable(plot):
            _call(self.label, "plot()", plot, self.truth["test"], self.latest, self.fitted,
                  run.file(f"plots/round-{record['round']:03d}"))

    def summary(self, record):
        if record["round"] == 0:
            return f"truth made: {record['train_events']:,} training and {record['test_events']:,} test sequences"
        line = getattr(self.plugin, "summary", None)
        return f"test nll {record['test_nll']:.3f}" + (f", {line(record)}" if callable(line) else "")

    def best(self):
        return None

    def state_dict(self):
        return {"truth": self.truth, "fitted": self.fitted, "generated": self.generated, "test_nll": self.test_nll,
                "buffer": self.buffer, "buffer_rate": self.buffer_rate}

    def load_state_dict(self, state):
        self.truth, self.fitted, self.generated = state["truth"], state["fitted"], state["generated"]
        self.test_nll, self.buffer, self.buffer_rate = state["test_nll"], state["buffer"], state["buffer_rate"]
        for name in ("training_set", "modelled", "stop_target"):  # derived from the truth and the fit
            self.__dict__.pop(name, None)

    # --- the CLI --------------------------------------------------------------------------------------------

    @staticmethod
    def status(run):
        last = (run.metrics() or [{}])[-1]
        if last.get("test_nll") is None:
            return "round -  not trained yet"
        return f"round {last['round']}  test nll {last['test_nll']:.3f}"

    def show(self, run, args):
        rounds = [r for r in run.metrics() if r["round"] >= 1]
        if not rounds:
            raise UserError(f"{args.run_dir} has no evaluated round yet")
        print("round  train loss  test nll")
        for r in rounds:
            loss = "-" if r["train_loss"] is None else f"{r['train_loss']:.3f}"
            print(f"{r['round']:>5}  {loss:>10}  {r['test_nll']:>8.3f}")
        report = getattr(self.plugin, "report", None)
        if callable(report):
            print(f"\nround {rounds[-1]['round']}:")
            print("\n".join(report(rounds[-1])))

    def ask(self, decoder, text, beam):
        raise UserError(f"{self.label} generates sequences: use `patternboost sample RUN_DIR --count N --out FILE`")

    def write_samples(self, decoder, count, temperature, seed, out):
        """`count` generated sequences in the plugin's file format (`patternboost sample --out`)."""
        save = getattr(self.plugin, "save", None)
        if not callable(save):
            raise UserError(f"{self.label} has no file format for samples (no save())")
        generator = torch.Generator(device=decoder.device).manual_seed(int(seed))
        lengths, x = sample(decoder.model, count, self.plugin.max_length, temperature=temperature,
                            min_length=self.plugin.min_length, modelled=self.modelled,
                            batch_size=self.config.sample.batch_size, generator=generator)
        raw = _call(self.label, "decode()", self.plugin.decode, lengths, x, self.fitted, seed)
        _call(self.label, "save()", save, out, lengths, raw, {"seed": seed, "temperature": temperature})
