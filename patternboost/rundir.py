"""The run directory: config, metrics, log, best object, live status and checkpoints, all written atomically.

    run.toml  metrics.jsonl  log.txt  best.json  status.json  checkpoints/{ckpt-*.pt, latest}

A checkpoint is written to a temporary file, synced and renamed; only then does
`checkpoints/latest` (itself replaced atomically) point at it, with its SHA-256.
A kill at any moment leaves `latest` naming a complete checkpoint.
"""
import hashlib
import io
import json
import math
import os
import socket
import tempfile
import time
import tomllib

from patternboost.errors import UserError

KEEP_CHECKPOINTS = 2


def write_atomic(path, data):
    """Replace `path` with `data` (bytes or str) so readers see the old or the new file, never a part."""
    data = data.encode() if isinstance(data, str) else data
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes files private; run files are meant to be shared
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def toml_value(value):
    """A TOML literal: JSON's, but infinities and NaN spelled as TOML spells them (inf, -inf, nan)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


def to_toml(data, prefix=""):
    """Nested dict of str/int/float/bool/list -> TOML text (None values are left out)."""
    lines, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif value is not None:
            lines.append(f"{key} = {toml_value(value)}")
    text = "\n".join(lines) + ("\n" if lines else "")
    for key, value in tables:
        name = f"{prefix}{key}"
        text += f"\n[{name}]\n" + to_toml(value, name + ".")
    return text


class RunDir:
    def __init__(self, path):
        self.path = path
        self.checkpoints = os.path.join(path, "checkpoints")

    def file(self, name):
        return os.path.join(self.path, name)

    # --- creating and opening ---------------------------------------------------

    @classmethod
    def create(cls, path, config):
        if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
            raise UserError(f"run directory {path} already exists; resume it with `patternboost resume {path}` "
                            "or choose another --run-dir")
        run = cls(path)
        os.makedirs(run.checkpoints, exist_ok=True)
        write_atomic(run.file("run.toml"), to_toml(config))
        return run

    @classmethod
    def open(cls, path):
        run = cls(path)
        if not os.path.isfile(run.file("run.toml")):
            what = "does not exist" if not os.path.exists(path) else "is not a run directory (no run.toml)"
            raise UserError(f"run directory {path} {what}")
        return run

    def config(self):
        try:
            with open(self.file("run.toml"), "rb") as f:
                return tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{self.file('run.toml')} is not valid TOML: {exc}") from exc

    # --- checkpoints ------------------------------------------------------------

    def save_checkpoint(self, state, tag):
        import torch  # kept off the light commands (status, problems)

        buffer = io.BytesIO()
        torch.save(state, buffer)
        data = buffer.getvalue()
        name = f"ckpt-{tag}.pt"
        write_atomic(os.path.join(self.checkpoints, name), data)
        pointer = {"file": name, "sha256": hashlib.sha256(data).hexdigest()}
        write_atomic(os.path.join(self.checkpoints, "latest"), json.dumps(pointer))
        self._prune(keep=name)

    def _prune(self, keep):
        names = sorted(n for n in os.listdir(self.checkpoints) if n.startswith("ckpt-") and n != keep)
        for name in names[: max(0, len(names) - (KEEP_CHECKPOINTS - 1))]:
            os.unlink(os.path.join(self.checkpoints, name))

    def load_checkpoint(self):
        """The latest complete checkpoint, or None if the run has none yet."""
        pointer_path = os.path.join(self.checkpoints, "latest")
        if not os.path.exists(pointer_path):
            return None
        try:
            with open(pointer_path) as f:
                pointer = json.load(f)
            with open(os.path.join(self.checkpoints, pointer["file"]), "rb") as f:
                data = f.read()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"checkpoint pointer {pointer_path} is unreadable: {exc}") from exc
        if hashlib.sha256(data).hexdigest() != pointer["sha256"]:
            raise UserError(f"checkpoint {pointer['file']} in {self.checkpoints} is corrupt or truncated "
                            "(its SHA-256 does not match)")
        import torch

        try:
            # Our own file, checked above; it holds numpy arrays, so not weights-only.
            return torch.load(io.BytesIO(data), weights_only=False)
        except Exception as exc:
            raise UserError(f"checkpoint {pointer['file']} cannot be read: {exc}") from exc

    # --- metrics, best, log -----------------------------------------------------

    def append_metrics(self, record):
        with open(self.file("metrics.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()

    def metrics(self):
        if not os.path.exists(self.file("metrics.jsonl")):
            return []
        records = []
        with open(self.file("metrics.jsonl")) as f:
            for line in f:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    pass  # a line cut by a kill
        return records

    def truncate_metrics(self, last_round):
        """Drop lines of rounds after the checkpoint being resumed (they will be redone)."""
        kept = [r for r in self.metrics() if r.get("round", -1) <= last_round]
        write_atomic(self.file("metrics.jsonl"), "".join(json.dumps(r) + "\n" for r in kept))

    def write_best(self, record):
        write_atomic(self.file("best.json"), json.dumps(record, indent=1) + "\n")

    def best(self):
        return self._read_json("best.json")

    def write_status(self, status):
        """What the running process is doing now (for `patternboost status`), with its pid, host and time."""
        status = {**status, "pid": os.getpid(), "host": socket.gethostname(), "updated": time.time()}
        write_atomic(self.file("status.json"), json.dumps(status) + "\n")

    def status(self):
        return self._read_json("status.json")

    def _read_json(self, name):
        try:
            with open(self.file(name)) as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise UserError(f"{self.file(name)} is unreadable: {exc}") from exc
