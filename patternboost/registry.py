"""Find problems: built-in short names and installed plugins (entry-point group
`patternboost.problems`), `pkg.mod:Class`, or `path/to/file.py:Class`."""
import dataclasses
import importlib
import importlib.metadata
import importlib.util
import keyword
import os
import sys

from patternboost.config import coerce, field_types
from patternboost.errors import UserError
from patternboost.problem import Problem

ENTRY_POINT_GROUP = "patternboost.problems"
PLUGIN_PREFIX = "patternboost_plugin_"  # module names of plugin files that no plain import can name


def entry_points():
    """{name: EntryPoint} for built-ins and installed plugins alike."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _plain_name(path):
    """(name, folder): the module name a plain import gives the file and the folder that import needs on sys.path.
    The stem and the file's folder; pkg.stem and the folder above pkg when the file's folder is a package (has an
    __init__.py), as pytest does; (None, None) when no import statement can name the file."""
    folder, filename = os.path.split(os.path.abspath(path))
    parts = [os.path.splitext(filename)[0]]
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        folder, package = os.path.split(folder)
        parts.insert(0, package)
    valid = all(part.isidentifier() and not keyword.iskeyword(part) for part in parts)
    if not valid or not filename.endswith(".py") or parts[-1] == "__init__":
        return None, None
    return ".".join(parts), folder


def _same_file(a, b):
    try:
        return a is not None and os.path.samefile(a, b)
    except OSError:
        return False


def _names_this_file(name, folder, path):
    """Whether importing `name` with `folder` on sys.path would give the file `path`, not some other module (an
    installed or standard one: a file json.py must not shadow the json module)."""
    top = name.partition(".")[0]
    expected = os.path.join(folder, top) if "." in name else path  # the top package's folder, or the file
    module = sys.modules.get(top)
    if module is not None:
        where = list(getattr(module, "__path__", [])) if "." in name else [getattr(module, "__file__", None)]
    else:
        try:
            spec = importlib.util.find_spec(top)  # a top-level name: nothing is imported
        except (ImportError, ValueError):
            return False
        if spec is None or spec.origin is None:  # no module has the name, or a namespace package, which
            return True  # a module or package on sys.path outranks: once `folder` is there, it names this file
        where = list(spec.submodule_search_locations or []) if "." in name else [spec.origin]
    if not any(_same_file(w, expected) for w in where):
        return False
    module = sys.modules.get(name)
    return module is None or _same_file(getattr(module, "__file__", None), path)


def _load_file(path, label):
    """The module of a plugin file, under the name a plain `import` gives it, with its folder on sys.path as for a
    script: numba's on-disk cache (cache=True) beside the file records the module name of each kernel and imports
    that name to load it, so a file loaded under a name of our own breaks, and is broken by, a plain import of the
    same file in another process. A name that a plain import cannot give the file (a file json.py, or another
    mine.py already imported) falls back to a private name."""
    if not os.path.isfile(path):
        raise UserError(f"{label}: no such file {path}")
    name, folder = _plain_name(path)
    if name is None or not _names_this_file(name, folder, path):
        return _load_private(path, label)
    module = sys.modules.get(name)
    if module is None:
        added = not any(_same_file(entry or os.curdir, folder) for entry in sys.path)
        if added:
            sys.path.insert(0, folder)
        importlib.invalidate_caches()  # the file may be newer than the import system's listing of its folder
        try:
            module = importlib.import_module(name)  # on failure, the import system takes it out of sys.modules
        except Exception as exc:
            if added:
                sys.path.remove(folder)
            raise UserError(f"{label}: failed to import: {type(exc).__name__}: {exc}") from exc
    # Earlier versions loaded every file under the private name, which the caches they wrote record.
    sys.modules.setdefault(_private_name(path), module)
    return module


def _private_name(path):
    return PLUGIN_PREFIX + os.path.splitext(os.path.basename(path))[0]


def _load_private(path, label):
    module_name = _private_name(path)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    module.__patternboost_file__ = path  # no other process can import this module by its name
    previous = sys.modules.get(module_name)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up here
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        if previous is None:
            del sys.modules[module_name]
        else:
            sys.modules[module_name] = previous
        raise UserError(f"{label}: failed to import: {type(exc).__name__}: {exc}") from exc
    return module


def _import(module_name, label):
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        raise UserError(f"{label}: failed to import: {type(exc).__name__}: {exc}") from exc


def plugin_file(spec):
    """(path, class name) when a spec names a plugin file (path/to/file.py:Class), else None."""
    where, _, attr = spec.rpartition(":")
    return (where, attr) if where and (where.endswith(".py") or os.sep in where) else None


def resolve(spec):
    """The problem class a spec names."""
    if ":" in spec:
        where, _, attr = spec.rpartition(":")
        if plugin_file(spec):
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
    from patternboost.families import family_class, kind_of  # the family kinds import this module

    family_class(kind_of(problem)).contract(problem, label)
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
