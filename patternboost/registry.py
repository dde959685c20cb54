"""Find problems: built-in short names and installed plugins (entry-point group
`patternboost.problems`), `pkg.mod:Class`, or `path/to/file.py:Class`."""
import dataclasses
import importlib
import importlib.metadata
import importlib.util
import os
import sys

from patternboost.config import coerce, field_types
from patternboost.errors import UserError
from patternboost.problem import Problem, check_contract
from patternboost.tasks import check_task_contract, is_task

ENTRY_POINT_GROUP = "patternboost.problems"
PLUGIN_PREFIX = "patternboost_plugin_"  # module names of problems loaded from a file


def entry_points():
    """{name: EntryPoint} for built-ins and installed plugins alike."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _load_file(path, label):
    if not os.path.isfile(path):
        raise UserError(f"{label}: no such file {path}")
    module_name = PLUGIN_PREFIX + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up here
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise UserError(f"{label}: failed to import: {type(exc).__name__}: {exc}") from exc
    return module


def _import(module_name, label):
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        raise UserError(f"{label}: failed to import: {type(exc).__name__}: {exc}") from exc


def resolve(spec):
    """The problem class a spec names."""
    if ":" in spec:
        where, _, attr = spec.rpartition(":")
        if where.endswith(".py") or os.sep in where:
            module = _load_file(where, spec)
        else:
            module = _import(where, spec)
        cls = getattr(module, attr, None)
        if cls is None:
            raise UserError(f"{spec}: {where} has no attribute {attr!r}")
    else:
        points = entry_points()
        if spec not in points:
            known = ", ".join(sorted(points)) or "none installed"
            raise UserError(f"unknown problem {spec!r} (known: {known}; or give path/to/file.py:Class)")
        try:
            cls = points[spec].load()
        except Exception as exc:
            raise UserError(f"{spec}: failed to import: {type(exc).__name__}: {exc}") from exc
    if not isinstance(cls, type):
        raise UserError(f"{spec}: {cls!r} is not a class")
    return cls


def make_params(cls, values, label):
    params_cls = getattr(cls, "Params", None)
    if params_cls is None or not dataclasses.is_dataclass(params_cls):
        raise UserError(f"{label}: the problem class needs a dataclass named Params")
    types = field_types(params_cls)
    for key in values:
        if key not in types:
            known = ", ".join(types) or "none"
            raise UserError(f"{label}: unknown parameter {key!r} (known: {known})")
    return params_cls(**{k: coerce(k, v, types[k]) for k, v in values.items()})


def load_problem(spec, **params):
    """An instance of the problem `spec` with the given parameters, checked against the contract."""
    cls = spec if isinstance(spec, type) else resolve(spec)
    label = spec if isinstance(spec, str) else cls.__name__
    try:
        problem = cls(make_params(cls, params, label))
    except UserError:
        raise
    except (ValueError, TypeError) as exc:
        raise UserError(f"{label}: {exc}") from exc
    (check_task_contract if is_task(problem) else check_contract)(problem, label)
    return problem


def describe():
    """[(name, spec, {param: default} or error text)] for `patternboost problems`."""
    rows = []
    for name, ep in sorted(entry_points().items()):
        try:
            cls = ep.load()
            defaults = {f.name: f.default for f in dataclasses.fields(cls.Params)}
            doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            rows.append((name, ep.value, defaults, doc))
        except Exception as exc:  # noqa: BLE001 - a broken plugin is listed, not fatal
            rows.append((name, ep.value, None, f"failed to load: {exc}"))
    return rows


__all__ = ["Problem", "describe", "entry_points", "load_problem", "resolve"]
