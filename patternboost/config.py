"""Engine configuration: plain dataclasses, set from TOML files and `--set key=value`."""
import dataclasses
import re
import types
import typing

from patternboost.data import DataConfig
from patternboost.errors import UserError
from patternboost.executor import ExecutorConfig


@dataclasses.dataclass
class ModelConfig:
    n_layer: int = 4  # the PatternBoost paper's model: 4 layers, 8 heads, width 64
    n_head: int = 8
    n_embd: int = 64
    dropout: float = 0.0
    position: str = "learned"  # learned | rope | alibi | none
    context: int = 0  # most tokens per sequence; 0 = as many as the problem needs

    def architecture(self):
        """The GPTConfig fields: context limits what a problem may need, it is not part of the model."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "context"}


@dataclasses.dataclass
class TrainConfig:
    steps: int = 200  # optimizer steps per round, warm-started from the last round
    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup: int = 100  # linear warm-up, first round only
    grad_clip: float = 1.0
    compile: bool = False  # torch.compile the training forward pass (GPU: faster after a compile of about a minute)


@dataclasses.dataclass
class SampleConfig:
    count: int = 2000  # model samples per round
    batch_size: int = 1000
    temperature: float = 1.0
    top_k: int = 0  # 0 = no top-k cut
    top_p: float = 1.0  # nucleus sampling: keep the likeliest tokens up to this total probability (1 = all)
    searches: int = 10  # local searches started from each sample, each with its own seed
    min_unique: float = 0.5  # raise the temperature when fewer samples are unique
    temperature_step: float = 0.1
    max_temperature: float = 2.0
    beam: int = 0  # tasks: answer test prompts by beam search of this width (0 = greedy, batched and faster)
    ordered: bool = True  # a problem with increasing encodings: sample only tokens above the last (always a set)
    edits: int = 0  # constructions: 0 = sample from scratch; k = pool elites with k tokens changed by the model


@dataclasses.dataclass
class LoopConfig:
    initial: int = 500000  # local searches in round 0 (the paper's default)
    pool_size: int = 2000  # elites kept (unique, top by score)
    rounds: int | None = None  # stop after this round (None = no limit; 0 = after round 0)
    time_limit: float = 0.0  # seconds (0 = no limit)
    target: float | None = None  # stop at this score (default: a proven optimum)
    device: str = "auto"  # auto | cpu | cuda
    overlap: bool = False  # search round r - 1's samples in the executor's workers while round r trains


SECTIONS = ("model", "train", "sample", "loop", "data", "executor")


@dataclasses.dataclass
class EngineConfig:
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    sample: SampleConfig = dataclasses.field(default_factory=SampleConfig)
    loop: LoopConfig = dataclasses.field(default_factory=LoopConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)  # tasks only: the training-data regime
    executor: ExecutorConfig = dataclasses.field(default_factory=ExecutorConfig)  # where slow, parallel work runs

    def validate(self):
        if self.model.position not in ("learned", "rope", "alibi", "none"):
            raise UserError(f"model.position must be learned, rope, alibi or none, got {self.model.position!r}")
        if self.model.n_embd % self.model.n_head:
            raise UserError(f"model.n_embd ({self.model.n_embd}) must be a multiple of model.n_head ({self.model.n_head})")
        if self.loop.device not in ("auto", "cpu", "cuda"):
            raise UserError(f"loop.device must be auto, cpu or cuda, got {self.loop.device!r}")
        for key in ("model.n_layer", "model.n_head", "model.n_embd", "train.batch_size",
                    "sample.count", "sample.batch_size", "sample.searches", "loop.initial", "loop.pool_size"):
            section, name = key.split(".")
            if getattr(getattr(self, section), name) < 1:
                raise UserError(f"{key} must be at least 1")
        if self.sample.beam < 0:
            raise UserError("sample.beam must be 0 (greedy) or a beam width")
        if self.sample.edits < 0:
            raise UserError("sample.edits must be 0 (sample from scratch) or a number of tokens to change")
        if not 0 < self.sample.top_p <= 1:
            raise UserError(f"sample.top_p must be in (0, 1], got {self.sample.top_p}")
        if self.sample.temperature <= 0:
            raise UserError("sample.temperature must be positive")
        if self.model.context < 0:
            raise UserError("model.context must be 0 (as needed) or a positive number of tokens")
        self.data.validate()
        self.executor.validate()


def coerce(key, value, kind):
    """Convert a --set string or TOML value to the declared field type, or fail clearly."""
    optional = typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in typing.get_args(kind)
    if optional:
        if value is None or (isinstance(value, str) and value.lower() in ("none", "")):
            return None
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
                return value.lower() in ("true", "1", "yes")
            raise ValueError
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind is str:
            return str(value)
    except (TypeError, ValueError):
        pass
    else:
        raise UserError(f"{key}: unsupported field type {kind}")
    raise UserError(f"{key}: expected {kind.__name__}, got {value!r}")


def field_types(cls):
    return typing.get_type_hints(cls)


def update_dataclass(obj, values, prefix=""):
    """Set fields of a dataclass from a mapping, checking names and types."""
    types_ = field_types(type(obj))
    for name, value in values.items():
        if name not in types_:
            known = ", ".join(prefix + k for k in types_)
            raise UserError(f"unknown setting {prefix}{name!s} (known: {known})")
        setattr(obj, name, coerce(prefix + name, value, types_[name]))


def apply_engine_settings(config, settings):
    """settings: {'train.steps': '500', ...} or nested {'train': {'steps': 500}}."""
    for key, value in settings.items():
        if isinstance(value, dict):
            section, values = key, value
        else:
            section, _, name = key.partition(".")
            values = {name: value}
        if not dataclasses.is_dataclass(getattr(config, section, None)):
            raise UserError(f"unknown settings section {section!r} (known: {', '.join(SECTIONS)})")
        update_dataclass(getattr(config, section), values, prefix=section + ".")


def parse_duration(text):
    """'900', '90s', '30m', '2h', '1h30m' -> seconds."""
    text = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)([smh])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise UserError(f"bad duration {text!r}: use seconds, or a form like 30m, 2h, 1h30m")
    return sum(float(n) * {"s": 1, "m": 60, "h": 3600}[u] for n, u in parts)


def parse_set(items):
    """['n=30', 'train.steps=500'] -> ({'n': '30'}, {'train.steps': '500'})."""
    problem, engine = {}, {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set expects key=value, got {item!r}")
        (engine if "." in key else problem)[key.strip()] = value.strip()
    return problem, engine


def to_dict(config):
    return dataclasses.asdict(config)


def from_dict(data):
    config = EngineConfig()
    apply_engine_settings(config, data)
    return config
