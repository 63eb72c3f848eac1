"""The one boundary where files become values: run.json, metrics.json, evaluation caches (MNIST's and
the handwriting's), a checkpoint's config and metrics, sweep specs.

Each is parsed once with pydantic in strict JSON mode: a string is not a number, unknown keys
(from newer versions) are ignored, missing optional keys take their defaults, and ranges are
checked. A failure is one SchemaError naming the file and the field. Past this module, code
trusts its types. Writing goes through `dumps_json`, so no file or output ever holds NaN.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from functools import cache
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError

from resnet_mnist.core.config import TrainConfig
from resnet_mnist.core.devices import DEVICE_CHOICES
from resnet_mnist.core.events import RunState
from resnet_mnist.core.files import FileRefused
from resnet_mnist.runs.fine_tune_records import ParentRecord, TeachRecord
from resnet_mnist.runs.schema_types import Count, Digit, Finite, Fraction, GroupId, NonNegative

__all__ = [
    "EVALUATION_FORMAT",
    "MAX_EVALUATION_BYTES",
    "MAX_METRICS_BYTES",
    "MAX_NAME_LENGTH",
    "MAX_RUN_FILE_BYTES",
    "MAX_TAGS",
    "MAX_TAG_LENGTH",
    "BatchRecord",
    "EpochRecord",
    "EvaluationKey",
    "EvaluationRecord",
    "HandwritingScoreKey",
    "HandwritingScoreRecord",
    "HparamChangeRecord",
    "Misclassified",
    "ParentRecord",
    "RunMetrics",
    "RunRecord",
    "SchemaError",
    "TeachRecord",
    "VerdictRecord",
    "dumps_json",
    "parse_checkpoint_config",
    "parse_checkpoint_metrics",
    "parse_evaluation",
    "parse_handwriting_score",
    "parse_json",
    "parse_metrics",
    "parse_object",
    "parse_run_record",
    "record_dict",
]

T = TypeVar("T")

MAX_RUN_FILE_BYTES = 1_000_000  # run.json is a few hundred bytes
MAX_METRICS_BYTES = 256_000_000  # 500 epochs logged every batch of 64 is about 60 MB
MAX_EVALUATION_BYTES = 16_000_000  # 10,000 mistakes at most: about 1 MB
EVALUATION_FORMAT = "resnet-mnist-evaluation/1"
MAX_NAME_LENGTH, MAX_TAG_LENGTH, MAX_TAGS = 100, 40, 20  # what the Runs page lets a person type


def _as_recorded(data: Any) -> Any:
    """A config stored before precision was a setting computed in fp32 (as TrainConfig.from_dict reads it)."""
    return {"precision": "fp32", **data} if isinstance(data, dict) else data


StoredConfig = Annotated[TrainConfig, BeforeValidator(_as_recorded)]


class SchemaError(FileRefused):
    """A file (or upload) that is well-formed but wrong: which file, which field, what is wrong."""

    def __init__(self, source: str, field: str, problem: str) -> None:
        super().__init__(source, f"{field}: {problem}" if field else problem)
        self.field, self.problem = field, problem

    @classmethod
    def from_validation(cls, source: str, error: ValidationError) -> SchemaError:
        """The first problem, its field as a dotted path (config.lr, values.lr.0); how many more fields are wrong."""
        found: dict[str, dict[str, Any]] = {}
        for detail in error.errors(include_url=False):
            found.setdefault(_field_path(detail["loc"]), detail)
        field, first = next(iter(found.items()))
        message = first["msg"][:1].lower() + first["msg"][1:]
        value = first.get("input")
        if isinstance(value, (str, int, float, bool)) or value is None:
            message += f" (got {_short_repr(value)})"
        if len(found) > 1:
            message += f"; and {len(found) - 1} more field{'s' if len(found) > 2 else ''}"
        return cls(source, field, message)


def _field_path(loc: tuple[Any, ...]) -> str:
    """('values', 'lr', 0, 'int') → 'values.lr.0': a union's member tags (int, float, …) name no field."""
    parts = list(loc)
    while parts and isinstance(parts[-1], str) and (parts[-1] in _TYPE_TAGS or "[" in parts[-1]):
        parts.pop()
    return ".".join(str(part) for part in parts)


_TYPE_TAGS = {"int", "float", "str", "bool", "none", "list", "tuple", "dict"}


def _short_repr(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- what each file holds -------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    """What run.json says about a run (RunInfo adds where it lives and whether it is being written)."""

    state: RunState
    config: StoredConfig
    name: Annotated[str, Field(max_length=MAX_NAME_LENGTH)] = ""
    tags: Annotated[tuple[Annotated[str, Field(max_length=MAX_TAG_LENGTH)], ...], Field(max_length=MAX_TAGS)] = ()
    reason: str | None = None
    device: str = ""
    created: str = ""
    updated: str = ""
    duration_seconds: NonNegative = 0.0
    epochs_done: Count = 0
    best_accuracy: Fraction | None = None
    final_accuracy: Fraction | None = None
    sweep: str | None = None
    node: str = ""  # the Ray node that trained a sweep trial ("<ip> <node id>"); "" for local runs
    group: GroupId | None = None  # the seed group it was trained in (the same recipe over seeds: runs/groups.py)
    # A fine-tune's origin and its handwriting record, kept as the plain dicts run.json holds (readers use .get);
    # parse_run_record checks them against ParentRecord and TeachRecord, so their types hold too.
    parent: dict[str, Any] | None = None
    teach: dict[str, Any] | None = None

    @property
    def branched_from(self) -> tuple[str, int] | None:
        """(parent run id, epoch) for a branch (a run with a parent run and no handwriting); else None."""
        if self.parent is None or self.teach is not None or not self.parent.get("run"):
            return None
        return self.parent["run"], int(self.parent.get("epoch", 0))


@dataclass(frozen=True)
class BatchRecord:
    """One logged batch, as metrics.json stores it (see events.BatchLogged)."""

    epoch: Count
    step: Count
    loss: Finite
    batch: Count = 0
    batches_per_epoch: Count = 0
    images_per_second: NonNegative = 0.0
    lr: NonNegative | None = None
    momentum: Fraction | None = None


@dataclass(frozen=True)
class EpochRecord:
    """One epoch's results, as metrics.json and checkpoints store them (see events.EpochCompleted)."""

    epoch: Count
    test_accuracy: Fraction
    test_loss: Finite | None = None
    train_loss: Finite | None = None
    correct: Count = 0
    total: Count = 0
    train_seconds: NonNegative = 0.0
    test_seconds: NonNegative = 0.0
    images_per_second: NonNegative = 0.0
    precision: str = "fp32"  # what the epoch computed in (runs recorded before the choice: fp32)
    threads: Count = 0
    step: Count = 0  # optimizer steps done by the epoch's end (0: recorded before it was kept)


@dataclass(frozen=True)
class HparamChangeRecord:
    """A live lr/momentum change (see events.HyperparamsChanged)."""

    epoch: Count
    step: Count
    lr: NonNegative
    momentum: Fraction


@dataclass(frozen=True)
class RunMetrics:
    """metrics.json: the logged batches, the epochs and the live hyperparameter changes."""

    batches: tuple[BatchRecord, ...] = ()
    epochs: tuple[EpochRecord, ...] = ()
    hparam_changes: tuple[HparamChangeRecord, ...] = ()

    def as_dicts(self) -> dict[str, list[dict[str, Any]]]:
        """The plain dict-of-lists shape the charts and older callers read."""
        return {f.name: [record_dict(r) for r in getattr(self, f.name)] for f in fields(self)}


@dataclass(frozen=True)
class CheckpointMetrics:
    """The metrics a checkpoint carries: its epochs' results."""

    epochs: tuple[EpochRecord, ...] = ()


@dataclass(frozen=True)
class Misclassified:
    """One wrongly classified test image: its position in the test set and what the model said."""

    index: Count
    true: Digit
    predicted: Digit
    confidence: Fraction  # probability the model gave its (wrong) prediction


@dataclass(frozen=True)
class EvaluationKey:
    """Which checkpoint file (size and mtime) and test slice an evaluation cache belongs to."""

    size: Count
    mtime_ns: int
    test_limit: Annotated[int, Field(ge=1)] | None = None


@dataclass(frozen=True, kw_only=True)
class VerdictRecord:
    """What a cached verdict on a checkpoint holds, whatever it was tested on (counts checked by _check_verdict)."""

    total: Count
    correct: Count
    loss: Finite
    confusion: tuple[tuple[Count, ...], ...]
    misclassified: tuple[Misclassified, ...]
    checkpoint_epoch: Count = 0
    computed_at: str = ""


@dataclass(frozen=True, kw_only=True)
class EvaluationRecord(VerdictRecord):
    """evaluation.json: a cached test-set verdict on one checkpoint."""

    format: Literal["resnet-mnist-evaluation/1"]
    key: EvaluationKey


@dataclass(frozen=True)
class HandwritingScoreKey:
    """Which checkpoint file (size and mtime) and which handwriting set (its fingerprint) a score is for."""

    size: Count
    mtime_ns: int
    set: Annotated[str, Field(max_length=128)]


@dataclass(frozen=True, kw_only=True)
class HandwritingScoreRecord(VerdictRecord):
    """handwriting.json: a run's cached verdict on the user's handwriting; `misclassified.index` is a
    digit's place in the set, which holds more digits than were scored when a fine-tune trained on some."""

    format: Literal["resnet-mnist-handwriting-score/1"]
    key: HandwritingScoreKey


def record_dict(record: Any) -> dict[str, Any]:
    """A record as a plain dict, shallow (records hold only plain values)."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


# -- parsing --------------------------------------------------------------------------------------


@cache
def _adapter(kind: type) -> TypeAdapter:
    return TypeAdapter(kind)


def parse_json(kind: type[T], raw: bytes | str, source: str) -> T:
    """JSON text → `kind` (a dataclass), strictly typed; SchemaError names the bad field."""
    try:
        return _adapter(kind).validate_json(raw, strict=True)
    except ValidationError as exc:
        raise SchemaError.from_validation(source, exc) from None


def parse_object(kind: type[T], data: Any, source: str) -> T:
    """Plain Python data (e.g. from a weights_only pickle) → `kind`, by the same JSON rules as files."""
    try:
        raw = json.dumps(data)
    except (TypeError, ValueError, RecursionError):
        raise SchemaError(source, "", "holds values that are not plain numbers, text, lists or mappings") from None
    return parse_json(kind, raw, source)


def _check_config(config: TrainConfig, source: str, prefix: str = "config.") -> TrainConfig:
    """A stored config must be one this app could have run (a device missing here is fine: trained elsewhere)."""
    from resnet_mnist.core.data import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE
    from resnet_mnist.core.precision import PRECISION_CHOICES

    here_only = {"device": DEVICE_CHOICES, "precision": PRECISION_CHOICES}  # fine where the run was trained
    for problem in config.problems(MNIST_TRAIN_SIZE, MNIST_TEST_SIZE):
        if getattr(config, problem.field) in here_only.get(problem.field, ()):
            continue
        raise SchemaError(source, prefix + problem.field, problem.message)
    return config


def parse_run_record(raw: bytes, source: str = "run.json") -> RunRecord:
    """run.json's bytes → RunRecord, its nested records (config, parent, teach) typed too."""
    record = parse_json(RunRecord, raw, source)
    _check_config(record.config, source)
    for key, kind in (("parent", ParentRecord), ("teach", TeachRecord)):
        if getattr(record, key) is not None:
            _within(kind, getattr(record, key), source, key)
    return record


def parse_metrics(raw: bytes, source: str = "metrics.json") -> RunMetrics:
    """metrics.json's bytes → RunMetrics."""
    return parse_json(RunMetrics, raw, source)


def _within(kind: type[T], data: Any, source: str, key: str) -> T:
    """`data` found under `key` of a larger object, its fields named from there (config.lr)."""
    try:
        return parse_object(kind, data, source)
    except SchemaError as exc:
        raise SchemaError(source, f"{key}.{exc.field}" if exc.field else key, exc.problem) from None


def parse_checkpoint_config(data: Any, source: str) -> TrainConfig:
    """The config dict inside a checkpoint → TrainConfig; SchemaError fields read config.<name>."""
    return _check_config(_within(StoredConfig, data, source, "config"), source)


def parse_checkpoint_metrics(data: Any, source: str) -> CheckpointMetrics:
    """The metrics dict inside a checkpoint → CheckpointMetrics (absent: none); fields read metrics.<name>."""
    return _within(CheckpointMetrics, data or {}, source, "metrics")


def parse_evaluation(raw: bytes, source: str = "evaluation.json", classes: int = 10) -> EvaluationRecord:
    """evaluation.json's bytes → EvaluationRecord, its counts consistent with each other."""
    record = parse_json(EvaluationRecord, raw, source)
    _check_verdict(record, source, classes, images=record.total)
    return record


def parse_handwriting_score(raw: bytes, source: str, *, set_size: int, classes: int = 10) -> HandwritingScoreRecord:
    """handwriting.json's bytes → HandwritingScoreRecord, consistent in itself and with a set of `set_size` digits."""
    record = parse_json(HandwritingScoreRecord, raw, source)
    if record.total > set_size:
        raise SchemaError(source, "total", f"is {record.total}, more than the set's {set_size} digits")
    _check_verdict(record, source, classes, images=set_size)
    return record


def _check_verdict(record: VerdictRecord, source: str, classes: int, images: int) -> None:
    """The counts of a cached verdict agree: a classes × classes confusion matrix adding up to the total,
    its diagonal the correct ones, and one mistake listed (an image among `images`) for every other."""
    if len(record.confusion) != classes or any(len(row) != classes for row in record.confusion):
        raise SchemaError(source, "confusion", f"must be {classes} rows of {classes} counts")
    if sum(map(sum, record.confusion)) != record.total:
        raise SchemaError(
            source, "confusion", f"counts add up to {sum(map(sum, record.confusion))}, not {record.total}"
        )
    if sum(record.confusion[c][c] for c in range(classes)) != record.correct:
        raise SchemaError(source, "correct", "does not match the confusion matrix's diagonal")
    if len(record.misclassified) != record.total - record.correct:
        raise SchemaError(source, "misclassified", f"lists {len(record.misclassified)}, not total - correct")
    outside = [i for i, m in enumerate(record.misclassified) if m.index >= images or m.true == m.predicted]
    if outside:
        raise SchemaError(source, f"misclassified.{outside[0]}", "is not a mistake on one of the tested images")


# -- writing --------------------------------------------------------------------------------------


def _finite(value: Any) -> Any:
    """The same data with every NaN or infinity replaced by None (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def dumps_json(data: Any, *, indent: int | None = None) -> str:
    """Standard JSON (never NaN or Infinity: those become null); dataclasses become objects."""
    if hasattr(data, "__dataclass_fields__"):
        data = asdict(data)
    return json.dumps(_finite(data), indent=indent, allow_nan=False)
