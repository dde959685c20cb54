"""Truth jet events: Pythia 8 generates pp -> Z/gamma* (-> mu+ mu-) + jets, FastJet clusters the jets.

In each event the two muons of the Z decay are kept as particles (not clustered), neutrinos are dropped, and every
other final-state particle (partons at parton level, hadrons at hadron level) is clustered with anti-kT.

Generation runs in chunks of a fixed size, each seeded from (seed, chunk index), through the project's executor, so
a file does not depend on the number of workers. Each finished chunk is written at once to OUT.npz.parts/, so an
interrupted run, started again with the same arguments, only makes the chunks it lacks; the merged file is written
atomically at the end and the parts folder removed.

Events are unweighted (Pythia's acceptance/rejection; the rare weight above 1 after a cross-section maximum was
exceeded is not kept). Pythia's own defaults (tune, PDF, power showers for Drell-Yan) apply unless `extra` says
otherwise.

    python -m problems.jets.truth truth.npz --events 20000 --level parton
"""
import argparse
import dataclasses
import functools
import importlib.metadata
import os
import shutil
import sys
import time

import numpy as np

from patternboost import ExecutorConfig, make_executor
from problems.jets.events import concatenate, multiplicity_fractions, pack, read_events, write_events

EXTRA_MESSAGE = "jet events need the jets extra: pip install 'patternboost[jets]'"
CHUNK_EVENTS = 2000  # events per chunk: a few seconds of work at parton level, the unit that a resume reuses
MAX_PYTHIA_SEED = 900_000_000  # Pythia's seeds are 1 .. 900,000,000
NEUTRINOS = (12, 14, 16)
LEVELS = {  # the Pythia strings of each level
    "parton": ("PartonLevel:MPI = off", "HadronLevel:all = off"),
    "hadron": ("PartonLevel:MPI = on", "HadronLevel:all = on"),
}
PROCESS = (  # Z/gamma* in f fbar -> gamma*/Z, decaying only to mu+ mu-, with m(mu mu) > 50 GeV
    "WeakSingleBoson:ffbar2gmZ = on",
    "23:onMode = off",
    "23:onIfAny = 13",
    "PhaseSpace:mHatMin = 50",
)


class MissingExtra(ImportError):
    """pythia8mc or fastjet is not installed."""


@dataclasses.dataclass
class TruthSettings:
    energy: float = 13000.0  # pp centre-of-mass energy in GeV (Beams:eCM)
    process: tuple = PROCESS  # Pythia strings choosing the hard process
    level: str = "parton"  # parton: showers only (no MPI, no hadronisation); hadron: MPI and hadronisation on
    jet_r: float = 0.4  # anti-kT radius
    jet_ptmin: float = 20.0  # GeV: jets below are dropped
    jet_etamax: float = 5.0  # jets with |eta| >= this are dropped
    muon_ptmin: float = 0.0  # GeV: events whose mu+ or mu- is below are skipped (0: no cut)
    muon_etamax: float | None = None  # events whose mu+ or mu- has |eta| >= this are skipped (None: no cut)
    extra: tuple = ()  # more Pythia strings, read last (tunes, PDFs, ...)

    def validate(self):
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {self.level!r}")
        if not (self.energy > 0 and self.jet_r > 0 and self.jet_ptmin >= 0 and self.jet_etamax > 0):
            raise ValueError("energy, jet R and jet |eta| limit must be positive, jet pT minimum not negative")
        if self.muon_ptmin < 0 or (self.muon_etamax is not None and self.muon_etamax <= 0):
            raise ValueError("the muon pT minimum must not be negative and the muon |eta| limit must be positive")
        return self

    def to_dict(self):
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values):
        values = {key: tuple(value) if isinstance(value, list) else value for key, value in values.items()}
        return cls(**values).validate()


def pythia_strings(settings):
    """Everything Pythia is told, in order. Print:quiet silences the banner and the event listings."""
    return ["Print:quiet = on", f"Beams:eCM = {settings.energy}", *settings.process, *LEVELS[settings.level],
            "Random:setSeed = on", *settings.extra]


def require_extra():
    """(pythia8mc, fastjet), or MissingExtra with one line saying how to install them."""
    try:
        import fastjet
        import pythia8mc
    except ImportError as error:
        raise MissingExtra(EXTRA_MESSAGE) from error
    # FastJet prints a banner to stdout on first use; the setter is only on the SWIG class (fastjet.ClusterSequence
    # is a Python dispatcher to it), and a null stream silences it.
    fastjet._swig.ClusterSequence.set_fastjet_banner_stream(None)
    return pythia8mc, fastjet


# ---- one chunk of events, in whichever process runs it -------------------------------------------------------

_pythia = None  # (Pythia strings, initialised Pythia) of this process: init() costs about a second, so once


def _cached_pythia(strings):
    global _pythia
    if _pythia is None or _pythia[0] != strings:
        pythia8mc, _ = require_extra()
        pythia = pythia8mc.Pythia("", False)  # no banner
        for line in strings:
            if not pythia.readString(line):
                raise ValueError(f"Pythia does not understand {line!r}")
        if not pythia.init():
            raise RuntimeError("Pythia failed to initialise (run it with Print:quiet = off to see why)")
        _pythia = (strings, pythia)
    return _pythia[1]


def generate_chunk(settings_dict, count, seed):
    """(multiplicity, particles) of `count` accepted events, the same for the same seed in any process."""
    if not 1 <= seed <= MAX_PYTHIA_SEED:
        raise ValueError(f"Pythia seeds are 1 .. {MAX_PYTHIA_SEED}, got {seed}")
    settings = TruthSettings.from_dict(settings_dict)
    _, fastjet = require_extra()
    pythia = _cached_pythia(tuple(pythia_strings(settings)))
    pythia.rndm.init(seed)  # the whole chunk follows from here: no state of earlier chunks carries over
    jet_definition = fastjet.JetDefinition(fastjet.antikt_algorithm, settings.jet_r)
    events, tries = [], 0
    while len(events) < count:
        tries += 1
        if tries > 10 * count + 100:
            raise RuntimeError(f"only {len(events)} of {count} events accepted in {tries - 1} tries")
        if not pythia.next():  # Pythia gave up on this event; it says so in its own statistics
            continue
        event = _muons_and_jets(pythia.event, settings, fastjet, jet_definition)
        if event is not None:  # None: no mu+ and mu- from the Z that pass the muon cuts; the event is skipped
            events.append(event)
    return pack(events)


def _muons_and_jets(event, settings, fastjet, jet_definition):
    """(muons (2, 4), jets (n, 4)) of one Pythia event, or None when it lacks the two muons."""
    z = next((particle.index() for particle in event if particle.id() == 23), None)  # the hard process's Z/gamma*
    if z is None:
        return None
    muons = {13: [], -13: []}
    momenta = []
    for particle in event:
        if not particle.isFinal():
            continue
        pid = particle.id()
        if abs(pid) in NEUTRINOS:
            continue
        if abs(pid) == 13 and particle.isAncestor(z):
            muons[pid].append(particle)
        else:
            momenta.append(fastjet.PseudoJet(particle.px(), particle.py(), particle.pz(), particle.e()))
    if not muons[13] or not muons[-13]:
        return None
    pair = []
    for pid in (-13, 13):  # mu+ first; any further muon from the Z (a radiated photon's mu+ mu-) is clustered
        ranked = sorted(muons[pid], key=lambda particle: -particle.pT())
        pair.append(ranked[0])
        momenta.extend(fastjet.PseudoJet(p.px(), p.py(), p.pz(), p.e()) for p in ranked[1:])
    if not all(_muon_passes(muon, settings) for muon in pair):
        return None
    rows = [(muon.pT(), muon.eta(), muon.phi(), muon.m()) for muon in pair]
    jets = fastjet.sorted_by_pt(fastjet.ClusterSequence(momenta, jet_definition).inclusive_jets(settings.jet_ptmin))
    # FastJet's m() is -sqrt(-m^2) when rounding makes m^2 of a one-gluon jet slightly negative: that mass is 0.
    jet_rows = [(jet.pt(), jet.eta(), jet.phi_std(), max(jet.m(), 0.0))
                for jet in jets if abs(jet.eta()) < settings.jet_etamax]
    return np.array(rows), np.array(jet_rows, dtype=np.float64).reshape(-1, 4)


def _muon_passes(muon, settings):
    return muon.pT() >= settings.muon_ptmin and (settings.muon_etamax is None or
                                                  abs(muon.eta()) < settings.muon_etamax)


# ---- a file of events, in resumable chunks -----------------------------------------------------------------

def chunk_seed(seed, index):
    """The Pythia seed of chunk `index`: a SeedSequence of (seed, index), folded into 1 .. 900,000,000."""
    state = np.random.SeedSequence(seed, spawn_key=(index,)).generate_state(1, np.uint64)[0]
    return int(state % MAX_PYTHIA_SEED) + 1


def chunk_sizes(events, chunk_events):
    full, rest = divmod(events, chunk_events)
    return [chunk_events] * full + ([rest] if rest else [])


def run_record(settings, events, seed, chunk_events):
    """Every setting that decides the events: stored in the file and in each part, compared on resume."""
    require_extra()
    return {"source": "pythia", "truth": settings.to_dict(), "pythia_strings": pythia_strings(settings),
            "events": events, "seed": seed, "chunk_events": chunk_events,
            "versions": {name: importlib.metadata.version(name) for name in ("pythia8mc", "fastjet")}}


def _part_path(parts, index):
    return os.path.join(parts, f"chunk-{index:06d}.npz")


def _make_part(record, parts, chunk, seed):
    """Executor work: generate one chunk and write it as a part (atomically, so a killed worker leaves none)."""
    index, count = chunk
    multiplicity, particles = generate_chunk(record["truth"], count, seed)
    write_events(_part_path(parts, index), multiplicity, particles, dict(record, chunk=index), overwrite=True)
    return count


def _finished_chunks(parts, record, sizes):
    """Indices of the chunks already in the parts folder; ValueError if one was made with other settings."""
    finished = []
    for index in range(len(sizes)):
        path = _part_path(parts, index)
        if not os.path.exists(path):
            continue
        multiplicity, _, stored = read_events(path)
        if stored != dict(record, chunk=index) or len(multiplicity) != sizes[index]:
            raise ValueError(f"{parts} holds chunks made with other settings: rerun with the same arguments or "
                             "remove it")
        finished.append(index)
    return finished


def generate(out_path, events, seed=0, settings=None, executor=None, progress=None, overwrite=False,
             chunk_events=CHUNK_EVENTS):
    """Write `events` truth events to out_path (an events file), resuming from out_path.parts/ if it is there.

    executor: the project's executor (default: a process pool with one worker per core, closed at the end);
    progress(done_events, total_events) is called as chunks finish. Returns (multiplicity, particles, record).
    """
    settings = (settings or TruthSettings()).validate()
    out_path = os.fspath(out_path)
    if events < 1 or chunk_events < 1 or seed < 0:
        raise ValueError(f"need events >= 1, chunk_events >= 1 and seed >= 0, got {events}, {chunk_events}, {seed}")
    if os.path.exists(out_path) and not overwrite:
        raise FileExistsError(f"{out_path} already exists (overwrite to replace it)")
    record = run_record(settings, events, seed, chunk_events)
    sizes = chunk_sizes(events, chunk_events)
    parts = out_path + ".parts"
    os.makedirs(parts, exist_ok=True)
    done = set(_finished_chunks(parts, record, sizes))
    missing = [index for index in range(len(sizes)) if index not in done]
    _run_chunks(record, parts, sizes, missing, seed, executor, progress)
    pieces = [read_events(_part_path(parts, index))[:2] for index in range(len(sizes))]
    multiplicity, particles = concatenate(pieces)
    write_events(out_path, multiplicity, particles, record, overwrite=overwrite)
    shutil.rmtree(parts)
    return multiplicity, particles, record


def _run_chunks(record, parts, sizes, missing, seed, executor, progress):
    """Make the missing parts through the executor; a RuntimeError naming the first chunk that failed."""
    def report(*_):  # events in the parts written so far, whichever chunks finished
        if progress is not None:
            progress(sum(size for index, size in enumerate(sizes) if os.path.exists(_part_path(parts, index))),
                     sum(sizes))

    report()
    if not missing:
        return
    own = executor is None
    executor = executor or make_executor(ExecutorConfig(kind="process", workers=0))
    try:
        outcomes = executor.map(functools.partial(_make_part, record, parts), [(i, sizes[i]) for i in missing],
                                [chunk_seed(seed, i) for i in missing], None, progress=report)
    finally:
        if own:
            executor.close()
    failed = [(index, outcome) for index, outcome in zip(missing, outcomes) if not outcome.ok]
    if failed:
        index, outcome = failed[0]
        raise RuntimeError(f"{len(failed)} of {len(missing)} chunks failed (chunk {index}: {outcome.failure}, "
                           f"{outcome.detail}); run again to resume")


# ---- command line ------------------------------------------------------------------------------------------

class _BadInput(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + message, and no SystemExit
        raise _BadInput(message)


def _parser():
    parser = _Parser(prog="patternboost jets generate",
                     description="Generate truth Z(->mu mu)+jets events with Pythia 8 and FastJet.")
    parser.add_argument("out", help="the events file to write (.npz)")
    parser.add_argument("--events", type=int, required=True, help="number of events")
    parser.add_argument("--seed", type=int, default=0, help="the events follow from the seed (default 0)")
    parser.add_argument("--level", default="parton", help="parton (default) or hadron")
    parser.add_argument("--workers", type=int, default=0, help="worker processes (0: one per core; 1: in-process)")
    parser.add_argument("--ptmin", type=float, default=20.0, help="jet pT minimum in GeV (default 20)")
    parser.add_argument("--etamax", type=float, default=5.0, help="jet |eta| limit (default 5)")
    parser.add_argument("--R", type=float, default=0.4, dest="jet_r", help="anti-kT radius (default 0.4)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    return parser


def _checked_arguments(argv):
    args = _parser().parse_args(argv)
    if args.events < 1:
        raise _BadInput(f"--events must be at least 1, got {args.events}")
    if args.seed < 0 or args.workers < 0:
        raise _BadInput("--seed and --workers must not be negative")
    if os.path.exists(args.out) and not args.overwrite:
        raise _BadInput(f"{args.out} already exists; choose another name or pass --overwrite")
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        raise _BadInput(f"the folder of {args.out} does not exist")
    settings = TruthSettings(level=args.level, jet_r=args.jet_r, jet_ptmin=args.ptmin, jet_etamax=args.etamax)
    try:
        settings.validate()
    except ValueError as error:
        raise _BadInput(str(error)) from error
    return args, settings


class _Progress:
    """Notes how many events a resumed run found made already; shows the count on a terminal."""

    def __init__(self):
        self.reused = None
        self.terminal = sys.stderr.isatty()

    def __call__(self, done, total):
        if self.reused is None:  # generate reports once before any work
            self.reused = done
        if self.terminal:
            print(f"\r{done}/{total} events", end="", file=sys.stderr, flush=True)

    def end_line(self):
        if self.terminal:
            print(file=sys.stderr)


def main(argv=None):
    """`patternboost jets generate OUT.npz --events N ...`: returns the exit code (2: bad input)."""
    try:
        args, settings = _checked_arguments(argv)
        require_extra()
    except (_BadInput, MissingExtra) as error:
        print(f"patternboost jets generate: {error}", file=sys.stderr)
        return 2
    workers = args.workers or os.cpu_count() or 1
    executor = make_executor(ExecutorConfig(kind="inline" if workers == 1 else "process", workers=workers))
    progress = _Progress()
    start = time.perf_counter()
    try:
        multiplicity, _, _ = generate(args.out, args.events, args.seed, settings, executor, progress,
                                      overwrite=args.overwrite)
    except KeyboardInterrupt:
        progress.end_line()
        print(f"interrupted: run the same command again to resume from {args.out}.parts", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, OSError) as error:  # ValueError: parts made with other arguments
        progress.end_line()
        print(f"patternboost jets generate: {error}", file=sys.stderr)
        return 2 if isinstance(error, ValueError) else 1
    finally:
        executor.close()
    seconds = time.perf_counter() - start
    made = len(multiplicity) - (progress.reused or 0)
    reused = f", {progress.reused} reused from an interrupted run" if progress.reused else ""
    fractions = multiplicity_fractions(multiplicity, int(multiplicity.max()))
    shown = " ".join(f"{n}:{fraction:.4f}" for n, fraction in enumerate(fractions))
    progress.end_line()
    print(f"{args.out}: {len(multiplicity)} {settings.level}-level events, {made} made in {seconds:.1f}s "
          f"({made / seconds:.0f} events/s, {workers} workers{reused}); jet multiplicity fractions {shown}")
    return 0


def command(argv):
    """`patternboost jets ...` (the patternboost.commands entry point): today one subcommand, generate."""
    if argv[:1] == ["generate"]:
        return main(argv[1:])
    print("usage: patternboost jets generate OUT.npz --events N [--seed S] [--level parton|hadron] ... "
          "(patternboost jets generate --help)", file=sys.stderr)
    return 0 if argv[:1] in (["-h"], ["--help"]) else 2


if __name__ == "__main__":
    sys.exit(main())
