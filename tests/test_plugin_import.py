"""A plugin file loads under the name a plain import gives it, so numba's on-disk cache (cache=True), which records
that name, works whichever way the file was imported before; a name that would shadow another module does not."""
import os
import subprocess
import sys
import textwrap

import pytest

from patternboost import UserError, load_problem
from patternboost.registry import PLUGIN_PREFIX, resolve
from tests.conftest import ROOT

PLUGIN = '''
import dataclasses

import numpy as np
{numba}
from patternboost import Problem


{jit}
def flip(x):
    return 1 - x


{jit}
def flip_all(batch):  # calls another cached kernel, as cap_set's do
    out = batch.copy()
    for i in range(batch.shape[0]):
        for j in range(batch.shape[1]):
            out[i, j] = flip(batch[i, j])
    return out


class Mine(Problem):
    @dataclasses.dataclass
    class Params:
        n: int = 3

    def __init__(self, params=None):
        super().__init__(params)
        self.vocab_size, self.max_length = 2, self.params.n

    def initial(self, count, seed):
        return np.zeros((count, self.params.n), dtype=np.uint8)

    def local_search(self, batch, seed):
        return flip_all(batch)

    def score(self, batch):
        return batch.sum(axis=1).astype(np.float64)

    def encode(self, batch):
        return [row.astype(np.int64) for row in batch]

    def decode(self, sequences):
        return np.array(sequences, dtype=np.uint8), np.ones(len(sequences), dtype=bool)
'''


def write_plugin(path, jit=True):
    path.parent.mkdir(parents=True, exist_ok=True)
    numba = "from numba import njit\n" if jit else ""
    path.write_text(PLUGIN.format(numba=numba, jit="@njit(cache=True)" if jit else ""))
    return path


def run_python(code, cwd):
    """`code` in a fresh interpreter with numba's cache log on: (returncode, output)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env["NUMBA_DEBUG_CACHE"] = "1"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=120, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("engine_first", [False, True], ids=["direct-then-engine", "engine-then-direct"])
def test_cached_kernels_work_whichever_way_the_file_was_imported_first(tmp_path, engine_first):
    """The user's sequence: `import mine` (its folder on sys.path) in one process and `patternboost run
    mine.py:Mine` in another, in either order; likewise a file of a package, imported as pkg.mine."""
    write_plugin(tmp_path / "mine.py")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    write_plugin(tmp_path / "pkg" / "mine.py")
    direct = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import numpy as np
        import mine, pkg.mine
        for module in (mine, pkg.mine):
            assert module.flip_all(np.zeros((2, 3), dtype=np.uint8)).sum() == 6
    """)
    engine = textwrap.dedent(f"""
        from patternboost.registry import load_problem
        for path in ({str(tmp_path / "mine.py")!r}, {str(tmp_path / "pkg" / "mine.py")!r}):
            problem = load_problem(path + ":Mine")
            assert problem.local_search(problem.initial(2, 0), 0).sum() == 6
    """)
    first, second = (engine, direct) if engine_first else (direct, engine)
    code, out = run_python(first, ROOT)
    assert code == 0, out
    code, out = run_python(second, ROOT)
    assert code == 0, out
    assert out.count("[cache] data loaded") == 2, out  # both kernels came from the first process's cache


def test_caches_written_under_the_former_private_name_still_load(tmp_path):
    """Earlier versions loaded every plugin file as patternboost_plugin_<stem>; their caches record that name."""
    plugin = write_plugin(tmp_path / "mine.py")
    former = textwrap.dedent(f"""
        import importlib.util, sys
        import numpy as np
        spec = importlib.util.spec_from_file_location("patternboost_plugin_mine", {str(plugin)!r})
        module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert module.flip_all(np.zeros((2, 3), dtype=np.uint8)).sum() == 6
    """)
    engine = textwrap.dedent(f"""
        from patternboost.registry import load_problem
        problem = load_problem({str(plugin)!r} + ":Mine")
        assert problem.local_search(problem.initial(2, 0), 0).sum() == 6
    """)
    for code in (former, engine):
        returncode, out = run_python(code, ROOT)
        assert returncode == 0, out
    assert "[cache] data loaded" in out


@pytest.fixture
def clean_imports(monkeypatch):
    """sys.path and sys.modules as they were, after the test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]


def test_a_plugin_file_is_imported_by_its_plain_name_once(tmp_path, clean_imports):
    plugin = write_plugin(tmp_path / "mine_plain.py", jit=False)
    cls = resolve(f"{plugin}:Mine")
    assert cls.__module__ == "mine_plain" and sys.path[0] == str(tmp_path)
    assert resolve(f"{plugin}:Mine") is cls  # imported once, like `import`
    import mine_plain  # the point: a plain import gives the same module

    assert mine_plain.Mine is cls
    other = write_plugin(tmp_path / "other" / "mine_plain.py", jit=False)  # the name is taken: a private one
    assert resolve(f"{other}:Mine").__module__ == PLUGIN_PREFIX + "mine_plain"


def test_a_file_of_a_package_is_imported_as_part_of_it(tmp_path, clean_imports):
    package = tmp_path / "plainpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text("N = 5\n")
    write_plugin(package / "mine.py", jit=False)
    with open(package / "mine.py", "a") as f:
        f.write("from .helpers import N\n")  # a relative import works, as for `import plainpkg.mine`
    cls = resolve(f"{package / 'mine.py'}:Mine")
    assert cls.__module__ == "plainpkg.mine" and sys.modules["plainpkg.mine"].N == 5


@pytest.mark.parametrize("stem", ["json", "colorsys"])
def test_a_file_named_like_another_module_does_not_shadow_it(tmp_path, clean_imports, stem):
    """json is imported already, colorsys (likely) not: neither may be replaced by the plugin."""
    plugin = write_plugin(tmp_path / f"{stem}.py", jit=False)
    path = list(sys.path)
    problem = load_problem(f"{plugin}:Mine")
    assert type(problem).__module__ == PLUGIN_PREFIX + stem and sys.path == path
    assert sys.modules[PLUGIN_PREFIX + stem].__patternboost_file__ == str(plugin)  # workers must load it by file
    assert problem.score(problem.local_search(problem.initial(2, 0), 0)).tolist() == [3.0, 3.0]
    real = __import__(stem)
    assert not hasattr(real, "Mine") and os.path.dirname(real.__file__) != str(tmp_path)


def test_a_file_that_fails_to_import_leaves_nothing_behind(tmp_path, clean_imports):
    plugin = tmp_path / "broken_plain.py"
    plugin.write_text("import numpy\nraise RuntimeError('boom')\n")
    path = list(sys.path)
    with pytest.raises(UserError, match=r"broken_plain.py:Mine: failed to import: RuntimeError: boom$"):
        load_problem(f"{plugin}:Mine")
    assert "broken_plain" not in sys.modules and sys.path == path
