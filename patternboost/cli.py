"""patternboost run | resume | status | show | problems"""
import argparse
import dataclasses
import datetime
import logging
import os
import platform
import shutil
import signal
import sys
import tomllib

import numpy as np

from patternboost import config as cfg
from patternboost import registry
from patternboost.errors import UserError
from patternboost.problem import probe
from patternboost.rundir import RunDir
from patternboost.tasks import is_task, probe_task, sequence_width

log = logging.getLogger("patternboost")


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2
        raise UserError(message)


def build_parser():
    parser = Parser(prog="patternboost", description="Search plus learning: local search, a transformer, repeat.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    run = sub.add_parser("run", help="start a new run")
    run.add_argument("problem", nargs="?", help="built-in name, pkg.mod:Class or path/to/file.py:Class")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="problem parameter (n=30) or engine setting (train.steps=500); repeatable")
    run.add_argument("--config", help="TOML file with [problem], [problem.params], [model], [train], [sample], [loop], [data]")
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

    show = sub.add_parser("show", help="the best object of a run")
    show.add_argument("run_dir")
    show.add_argument("--png", help="also draw it to this PNG file")

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
    problem = registry.load_problem(absolute_spec(spec), **params)
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
    check_engine(problem, engine, spec)
    seed = args.seed if args.seed is not None else cfg.coerce("seed", data.get("seed", 0), int)
    return {"seed": seed,
            "problem": {"spec": absolute_spec(spec), "params": dataclasses.asdict(problem.params)},
            **cfg.to_dict(engine), "versions": versions()}, problem


def check_engine(problem, engine, label):
    """What depends on both the problem and the engine settings, before a run directory exists."""
    task = is_task(problem)
    if not task and engine.data != cfg.DataConfig():
        raise UserError(f"{label}: [data] settings apply to tasks only (input -> output problems)")
    if task and engine.data.primers and not callable(getattr(problem, "long_examples", None)):
        raise UserError(f"{label}: data.primers needs long examples, and this task has no long_examples()")
    needed, context = sequence_width(problem), engine.model.context
    if context and needed > context:
        what = "prompt, answer and 3 framing tokens" if task else "max_length and 2 framing tokens"
        raise UserError(f"{label}: sequences need {needed} tokens ({what}) but model.context is {context}")


def check(problem, label):
    """The contract's probe, before a run writes anything."""
    (probe_task if is_task(problem) else probe)(problem, label)


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
    engine = cfg.from_dict({k: data[k] for k in cfg.SECTIONS if k in data})
    engine.validate()
    return engine


# --- commands ------------------------------------------------------------------------


def setup_logging(run):
    log.setLevel(logging.INFO)
    log.handlers.clear()
    file_handler = logging.FileHandler(run.file("log.txt"))
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(logging.Formatter("%(message)s"))
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


def drive(loop, run):
    install_interrupt(loop)
    reason = loop.run_rounds(progress_printer())
    log.info("stopped: %s. Run directory: %s", reason, run.path)
    if loop.best:
        log.info("best %s %g (round %d)", "accuracy" if loop.task else "score", loop.best["score"], loop.best["round"])
    return 130 if loop.stop.requested else 0


def make_loop(problem, engine, seed, run, spec):
    from patternboost.loop import Loop  # torch is imported only by the commands that train
    return Loop(problem, engine, seed, run, spec)


def cmd_run(args):
    data, problem = resolved_config(args)
    check(problem, data["problem"]["spec"])
    run_dir = args.run_dir or os.path.join(
        "runs", f"{problem.name}-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}")
    run = RunDir.create(run_dir, data)
    setup_logging(run)
    log.info("run %s: %s %s, seed %d", run.path, data["problem"]["spec"], data["problem"]["params"], data["seed"])
    loop = make_loop(problem, engine_from_run(data), data["seed"], run, data["problem"]["spec"])
    return drive(loop, run)


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
    check(problem, spec)
    engine = engine_from_run(data)
    apply_limits(engine, args)
    state = run.load_checkpoint()
    setup_logging(run)
    loop = make_loop(problem, engine, seed, run, spec)
    if state is not None:
        loop.load_state_dict(state)
        run.truncate_metrics(loop.round - 1)
        log.info("resumed %s at round %d (%s)", run.path, loop.round, loop.phase)
    else:
        run.truncate_metrics(-1)
        log.info("resumed %s from the start (no checkpoint yet)", run.path)
    return drive(loop, run)


def cmd_status(args):
    code = 0
    for path in args.run_dirs:
        try:
            run = RunDir.open(path)
        except UserError as exc:
            print(f"patternboost: error: {exc}", file=sys.stderr)
            code = 2
            continue
        metrics, best = run.metrics(), run.best()
        last = metrics[-1] if metrics else {}
        if "accuracy" in last:  # a task run
            print(f"{path}: round {last['round']}  step {last['step']}  accuracy {last['accuracy']:.4f}  "
                  f"elapsed {last.get('elapsed_s', 0):.0f}s")
            continue
        score = "-" if not best else f"{best['score']:g}"
        known = (best or last).get("known_best")
        gap = "" if known is None or not best else f"  known {known:g}  gap {known - best['score']:g}"
        print(f"{path}: round {last.get('round', '-')}  best {score}{gap}  elapsed {last.get('elapsed_s', 0):.0f}s")
    return code


def cmd_show(args):
    run, data, problem = open_run(args.run_dir)
    if is_task(problem):
        return show_report(run, args)
    best = run.best()
    if best is None:
        raise UserError(f"{args.run_dir} has no best object yet")
    obj = np.asarray(best["raw"]["data"], dtype=best["raw"]["dtype"])
    known = best.get("known_best")
    versus = "" if known is None else f" (known best {known:g}, gap {known - best['score']:g})"
    print(f"{data['problem']['spec']} {data['problem']['params']}")
    print(f"score {best['score']:g}{versus}, found in round {best['round']}, verified independently")
    print(problem.render(obj))
    if args.png:
        if not hasattr(problem, "draw"):
            raise UserError(f"{data['problem']['spec']} cannot draw pictures")
        problem.draw(obj, args.png)
        print(f"picture written to {args.png}")
    return 0


def show_report(run, args):
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
    return 0


def cmd_problems(args):
    for name, spec, defaults, doc in registry.describe():
        if defaults is None:
            print(f"{name:<18} {spec}  ({doc})")
            continue
        params = ", ".join(f"{k}={v!r}" for k, v in defaults.items())
        print(f"{name:<18} {doc}\n{'':<18} parameters: {params or 'none'}   [{spec}]")
    return 0


COMMANDS = {"run": cmd_run, "resume": cmd_resume, "status": cmd_status, "show": cmd_show, "problems": cmd_problems}


def main(argv=None):
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



