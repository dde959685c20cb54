"""patternboost run | resume | status | show | ask | sample | problems"""
import argparse
import dataclasses
import datetime
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import signal
import socket
import sys
import time
import tomllib

import numpy as np

from patternboost import config as cfg
from patternboost import registry
from patternboost.errors import UserError
from patternboost.families import family_class, kind_of
from patternboost.rundir import RunDir, write_atomic

log = logging.getLogger("patternboost")


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2
        raise UserError(message)


def build_parser():
    more = ", ".join(sorted(plugin_commands()))
    parser = Parser(prog="patternboost", description="Search plus learning: local search, a transformer, repeat.",
                    epilog=f"commands of installed families: {more} (patternboost NAME --help)" if more else None)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    run = sub.add_parser("run", help="start a new run")
    run.add_argument("problem", nargs="?", help="built-in name, pkg.mod:Class or path/to/file.py:Class")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="problem parameter (n=30) or engine setting (train.steps=500); repeatable")
    run.add_argument("--config", help="TOML file with [problem], [problem.params], [model], [train], [sample], [loop], "
                                      "[data], [executor]")
    run.add_argument("--run-dir", help="where to write the run (default runs/<problem>-<time>)")
    run.add_argument("--seed", type=int)
    add_limits(run)
    run.add_argument("--target", type=float, help="stop when the best score reaches this")
    run.add_argument("--device", choices=["auto", "cpu", "cuda"])

    resume = sub.add_parser("resume", help="continue a run from its latest checkpoint")
    resume.add_argument("run_dir")
    add_limits(resume)

    status = sub.add_parser("status", help="round, best, gap to known, elapsed")
    status.add_argument("run_dirs", nargs="+")

    show = sub.add_parser("show", help="the best object of a run, or its report")
    show.add_argument("run_dir")
    show.add_argument("--png", help="also draw it to this PNG file")

    ask = sub.add_parser("ask", help="a trained run's answers to your input (tasks)")
    ask.add_argument("run_dir")
    ask.add_argument("input", help='what to ask, e.g. "12 18" for gcd, "123+45" for addition')
    ask.add_argument("--beam", type=int, default=0, help="the W most likely answers, by beam search of width W")
    ask.add_argument("--json", action="store_true", help="print the answers as JSON")
    ask.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")

    draw = sub.add_parser("sample", help="draw objects from a trained run's model (constructions)")
    draw.add_argument("run_dir")
    draw.add_argument("--count", type=int, default=10)
    draw.add_argument("--out", help="write them to this new file: JSON lines, or the problem's own format "
                      "(jet events: .npz) (default: print JSON lines)")
    draw.add_argument("--temperature", type=float, help="default: the run's current temperature")
    draw.add_argument("--search", action="store_true", help="improve each sample by local search, score and verify it")
    draw.add_argument("--seed", type=int, default=0)
    draw.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")

    sub.add_parser("problems", help="built-in and installed problems with their parameters")
    return parser


def add_limits(parser):
    parser.add_argument("--rounds", type=int, help="stop after this round (round 0 is the initial search)")
    parser.add_argument("--time-limit", help="stop after this long in this session: 900, 30m, 2h")


# --- configuration -------------------------------------------------------------------


def read_toml(path):
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise UserError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"config file {path} is not valid TOML: {exc}") from exc


def absolute_spec(spec):
    """File plugins are stored with an absolute path so a run resumes from anywhere."""
    where, sep, attr = spec.rpartition(":")
    if sep and (where.endswith(".py") or os.sep in where):
        return os.path.abspath(where) + ":" + attr
    return spec


def resolved_config(args):
    """Defaults < the problem's recommended settings < --config file < --set and flags.
    Returns (the run.toml dict, the problem)."""
    data = read_toml(args.config) if args.config else {}
    unknown = set(data) - {"seed", "problem", *cfg.SECTIONS}
    if unknown:
        raise UserError(f"{args.config}: unknown section(s) {', '.join(sorted(unknown))}")
    problem_section = data.get("problem", {})
    if not isinstance(problem_section, dict) or not isinstance(problem_section.get("params", {}), dict):
        raise UserError(f"{args.config}: [problem] must be a table with spec and a [problem.params] table")
    spec = args.problem or problem_section.get("spec")
    if not spec:
        raise UserError("name a problem: patternboost run PROBLEM (see `patternboost problems`)")
    problem_params, engine_settings = cfg.parse_set(args.set)
    params = {**problem_section.get("params", {}), **problem_params}
    spec = absolute_spec(spec)
    problem = registry.load_problem(spec, **params)
    engine = cfg.EngineConfig()
    cfg.apply_engine_settings(engine, getattr(problem, "settings", {}))
    cfg.apply_engine_settings(engine, {k: v for k, v in data.items() if k in cfg.SECTIONS})
    cfg.apply_engine_settings(engine, engine_settings)
    apply_limits(engine, args)
    if args.target is not None:
        engine.loop.target = args.target
    if args.device:
        engine.loop.device = args.device
    engine.validate()
    seed = args.seed if args.seed is not None else cfg.coerce("seed", data.get("seed", 0), int)
    return {"seed": seed, "family": kind_of(problem),
            "problem": {"spec": spec, "params": dataclasses.asdict(problem.params), "sha256": plugin_hash(spec)},
            **cfg.to_dict(engine), "versions": versions()}, problem


def plugin_hash(spec):
    """SHA-256 of a file plugin (None for others): resume says when the file has changed since."""
    where, sep, _ = spec.rpartition(":")
    if not (sep and os.path.isfile(where)):
        return None
    with open(where, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def apply_limits(engine, args):
    if args.rounds is not None:
        if args.rounds < 0:
            raise UserError("--rounds must be 0 or more")
        engine.loop.rounds = args.rounds
    if args.time_limit is not None:
        engine.loop.time_limit = cfg.parse_duration(args.time_limit)


def versions():
    import numba
    import torch

    from patternboost import __version__
    return {"patternboost": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "numba": numba.__version__}


def engine_from_run(data):
    sections = {k: data[k] for k in cfg.SECTIONS if k in data}
    if "family" not in data and sections.get("loop", {}).get("rounds") == 0:
        sections["loop"] = {**sections["loop"], "rounds": None}  # run.toml before 0.2 wrote 0 for no limit
    engine = cfg.from_dict(sections)
    engine.validate()
    return engine


# --- commands ------------------------------------------------------------------------


class ConsoleFilter(logging.Filter):
    """Records logged with extra={"file_only": True} go to log.txt only (the CLI prints its own error line)."""

    def filter(self, record):
        return not getattr(record, "file_only", False)


def setup_logging(run):
    log.setLevel(logging.INFO)
    log.handlers.clear()
    file_handler = logging.FileHandler(run.file("log.txt"))
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(logging.Formatter("%(message)s"))
    console.addFilter(ConsoleFilter())
    log.addHandler(file_handler)
    log.addHandler(console)


def progress_printer():
    """A progress line on a terminal; nothing between round lines when piped."""
    if not sys.stderr.isatty():
        return lambda *a: None

    def show(what, done, total):
        width = 30
        filled = int(width * done / max(total, 1))
        sys.stderr.write(f"\r  {what:<28} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}\033[K")
        if done >= total:
            sys.stderr.write("\r\033[K")
        sys.stderr.flush()
    return show


def install_interrupt(loop):
    def handler(signum, frame):
        if loop.stop.requested:
            sys.stderr.write("\npatternboost: second interrupt, exiting now\n")
            os._exit(130)
        loop.stop.requested = True
        sys.stderr.write("\npatternboost: finishing the current step, then checkpointing "
                         "(Ctrl-C again to quit at once)\n")
    signal.signal(signal.SIGINT, handler)


def drive(run, make):
    """Build the loop and run it; an error that stops the run reaches log.txt as well as the terminal."""
    try:
        loop = make()
        install_interrupt(loop)
        reason = loop.run_rounds(progress_printer())
    except UserError as exc:
        log.error("stopped by an error: %s", exc, extra={"file_only": True})
        raise
    except BaseException:
        log.exception("stopped by an unexpected error", extra={"file_only": True})
        raise
    from patternboost import distributed

    if distributed.WORLD.size > 1:
        distributed.broadcast(None)  # the other ranks' run is over
        distributed.leave(loop.trainer)
    log.info("stopped: %s. Run directory: %s", reason, run.path)
    if loop.best:
        log.info("%s", loop.family.best_line())
    return 130 if loop.stop.requested else 0


def make_loop(problem, engine, seed, run, spec, state=None):
    from patternboost.loop import Loop  # torch is imported only by the commands that use the model

    loop = Loop(problem, engine, seed, run, spec)
    if state is not None:
        loop.load_state_dict(state)
    return loop


def join_world(engine, problem, seed, spec):
    """Under torchrun: join the process group. A rank other than 0 then only trains beside rank 0 (see
    patternboost.distributed) and its exit code is returned; rank 0 (and a plain run) gets None and runs."""
    from patternboost import distributed

    world = distributed.init(engine.loop.device)
    if world.size > 1 and engine.train.batch_size < world.size:
        raise UserError(f"train.batch_size ({engine.train.batch_size}) must be at least the number of "
                        f"processes ({world.size})")
    if world.main:
        return None
    return distributed.follow(make_loop(problem, engine, seed, None, spec).trainer)


def cmd_run(args):
    data, problem = resolved_config(args)
    spec = data["problem"]["spec"]
    engine = engine_from_run(data)
    family_class(data["family"]).check(problem, engine, spec)
    code = join_world(engine, problem, data["seed"], spec)
    if code is not None:
        return code
    run_dir = args.run_dir or os.path.join(
        "runs", f"{problem.name}-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}")
    run = RunDir.create(run_dir, data)
    setup_logging(run)
    log.info("run %s: %s %s, seed %d", run.path, spec, data["problem"]["params"], data["seed"])
    return drive(run, lambda: make_loop(problem, engine, data["seed"], run, spec))


def open_run(path):
    """(run, run.toml dict, problem) of an existing run directory."""
    run = RunDir.open(path)
    data = run.config()
    try:
        spec, params, _ = data["problem"]["spec"], data["problem"]["params"], data["seed"]
    except (KeyError, TypeError) as exc:
        raise UserError(f"{run.file('run.toml')} lacks {exc}") from exc
    return run, data, registry.load_problem(spec, **params)


def cmd_resume(args):
    run, data, problem = open_run(args.run_dir)
    spec, seed = data["problem"]["spec"], data["seed"]
    engine = engine_from_run(data)
    apply_limits(engine, args)
    family_class(kind_of(problem)).check(problem, engine, spec)
    code = join_world(engine, problem, seed, spec)
    if code is not None:
        return code
    state = run.load_checkpoint()
    setup_logging(run)
    recorded, now = data["problem"].get("sha256"), plugin_hash(spec)
    if recorded and now != recorded:
        log.warning("the plugin file %s has changed since this run started (sha256 %s..., now %s...); "
                    "resuming with the edited file", spec.rpartition(":")[0], recorded[:12], now[:12])

    def make():
        loop = make_loop(problem, engine, seed, run, spec, state)
        if state is not None:
            run.truncate_metrics(loop.round - 1)
            log.info("resumed %s at round %d (%s)", run.path, loop.round, loop.phase)
        else:
            run.truncate_metrics(-1)
            log.info("resumed %s from the start (no checkpoint yet)", run.path)
        return loop
    return drive(run, make)


def run_family(run, data):
    """The family kind of a run: recorded in run.toml, or (runs from before it was) found from the plugin class."""
    if "family" in data:
        return family_class(data["family"])
    return family_class(kind_of(registry.resolve(data["problem"]["spec"])))


def cmd_status(args):
    """One line per run directory; paths that are not run directories (runs/README.md) are passed over when
    others are runs."""
    runs, errors, missing = [], [], False
    for path in args.run_dirs:
        try:
            runs.append((path, RunDir.open(path)))
        except UserError as exc:
            errors.append(str(exc))
            missing |= not os.path.exists(path)  # a typo is always said; a file beside the runs is not
    if not runs or missing:
        for error in errors:
            print(f"patternboost: error: {error}", file=sys.stderr)
        if not runs:
            return 2
    for path, run in runs:
        try:
            line = run_family(run, run.config()).status(run)
        except UserError as exc:
            line = f"unreadable: {exc}"
        print(f"{path}: {line}  {live_status(run)}")
    return 0


def live_status(run):
    """What the run is doing now if its process is alive, else the elapsed time of its last round."""
    status = run.status() or {}
    last = (run.metrics() or [{}])[-1]
    if status.get("what", "").startswith("stopped") or not alive(status):
        elapsed = status.get("elapsed_s", last.get("elapsed_s", 0))
        return f"elapsed {elapsed:.0f}s" + ("" if not status else f"  ({status['what']})")
    done = "" if status.get("total") is None else f" {status['done']}/{status['total']}"
    return (f"running: round {status['round']} {status['what']}{done}, session {status['session_s']:.0f}s, "
            f"elapsed {status['elapsed_s']:.0f}s")


def alive(status):
    if not status or status.get("host") != socket.gethostname():
        return bool(status) and time.time() - status.get("updated", 0) < 300  # another machine: trust recency
    try:
        os.kill(status["pid"], 0)
    except (OSError, KeyError, TypeError):
        return False
    return True


def open_family(path):
    """(run, family) of an existing run, the plugin built from run.toml."""
    run, data, problem = open_run(path)
    family = run_family(run, data)(problem, engine_from_run(data), data["seed"], data["problem"]["spec"])
    return run, family


def cmd_show(args):
    run, family = open_family(args.run_dir)
    family.show(run, args)
    return 0


def trained(args):
    """(family, decoder) of a run's latest checkpoint, read-only: nothing is written into the run directory."""
    from patternboost.families import upgrade
    from patternboost.loop import build_model, resolve_device
    from patternboost.sample import Decoder

    run, family = open_family(args.run_dir)
    state = run.load_checkpoint()
    if state is None:
        raise UserError(f"{args.run_dir} has no checkpoint yet")
    state = upgrade(state)
    device = resolve_device(args.device)
    model = build_model(family, engine_from_run(run.config()), device)
    model.load_state_dict(state["model"])
    family.load_state_dict(state["family"])
    if not state["trainer"]["step"]:
        raise UserError(f"{args.run_dir} has not trained its model yet")
    return family, Decoder(model, device)


def cmd_ask(args):
    if args.beam < 0:
        raise UserError("--beam must be 0 (greedy) or a beam width")
    family, decoder = trained(args)
    result = family.ask(decoder, args.input, args.beam)
    print(json.dumps(result) if args.json else "\n".join(family.answer_lines(result)))
    return 0


def cmd_sample(args):
    if args.count < 1:
        raise UserError("--count must be at least 1")
    if args.temperature is not None and args.temperature <= 0:
        raise UserError("--temperature must be positive")
    if args.out and os.path.exists(args.out):
        raise UserError(f"{args.out} already exists; choose another --out")
    from patternboost.executor import InlineExecutor

    family, decoder = trained(args)
    temperature = args.temperature or getattr(family, "temperature", 1.0)
    if hasattr(family, "write_samples"):  # a family with a file format of its own (jet events: .npz)
        if not args.out:
            raise UserError("this run's samples go to a file: give --out FILE")
        family.write_samples(decoder, args.count, temperature, args.seed, args.out)
        print(f"{args.count} samples written to {args.out}")
        return 0
    samples = family.draw_samples(decoder, args.count, temperature, args.seed, args.search, InlineExecutor())
    text = "".join(json.dumps(sample) + "\n" for sample in samples)
    if args.out:
        write_atomic(args.out, text)
        print(f"{len(samples)} samples written to {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_problems(args):
    for name, spec, defaults, doc in registry.describe():
        if defaults is None:
            print(f"{name:<18} {spec}  ({doc})")
            continue
        params = ", ".join(f"{k}={v!r}" for k, v in defaults.items())
        print(f"{name:<18} {doc}\n{'':<18} parameters: {params or 'none'}   [{spec}]")
    return 0


COMMANDS = {"run": cmd_run, "resume": cmd_resume, "status": cmd_status, "show": cmd_show, "ask": cmd_ask,
            "sample": cmd_sample, "problems": cmd_problems}


def plugin_commands():
    """Commands a family of problems adds (`patternboost jets generate ...`): entry points in the group
    patternboost.commands, each a function(argv) -> exit code."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group="patternboost.commands")}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    extra = plugin_commands()
    if argv and argv[0] in extra and argv[0] not in COMMANDS:
        return extra[argv[0]].load()(argv[1:])
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"patternboost: error: {exc}", file=sys.stderr)
        return 2


def entry():
    try:
        sys.exit(main())
    except BrokenPipeError:  # `patternboost show RUN | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit-time flush can't fail
        sys.exit(141)


if __name__ == "__main__":
    entry()
