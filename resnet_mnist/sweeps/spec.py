"""A hyperparameter sweep as plain data: a base config, a search space, how to search and schedule.

SweepSpec holds only plain types, so it can be written to JSON (to_dict/from_dict) and handed to
whatever runs it: tune.py turns it into a Ray Tune experiment, locally or on a cluster. Nothing
here imports Ray, and nothing ever lists a grid's combinations: they are counted, and the trials
are drawn lazily by whoever runs the sweep.
"""

from __future__ import annotations

import math
import re
import secrets
import unicodedata
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from resnet_mnist.core.config import SETTINGS, ConfigProblem, TrainConfig
from resnet_mnist.core.data import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE
from resnet_mnist.runs.schema import SchemaError, parse_object

__all__ = [
    "MAX_TRIALS",
    "SCHEDULERS",
    "SEARCHES",
    "SWEEP_DEFAULTS",
    "SWEPT_FIELDS",
    "Axis",
    "SweepError",
    "SweepSpec",
    "is_sweep_id",
    "name_slug",
    "named_sweep_id",
    "new_sweep_id",
    "parse_axis",
    "parse_values",
]

SEARCHES = ("grid", "random", "optuna")
SCHEDULERS = ("none", "asha")
# From the settings' own descriptions (config.py): a setting with sweep_values can be swept.
SWEPT_FIELDS = tuple(name for name, setting in SETTINGS.items() if setting.sweepable)
METRIC, METRIC_MODE = "test_accuracy", "max"
AxisValue = int | float | str  # a number, or a choice setting's choice ("bf16")
MAX_TRIALS = 1000  # Ray Tune keeps every trial's state in the driver; a bigger sweep is a job for many sweeps


class SweepError(ValueError):
    """An invalid sweep; carries every problem found, each naming the field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def parse_values(text: str, kind: type, choices: tuple[str, ...] = ()) -> tuple[AxisValue, ...]:
    """'0.01, 0.05 0.1' → (0.01, 0.05, 0.1), 'fp32 bf16' → ('fp32', 'bf16') when those are the `choices`;
    duplicates dropped, order kept; ValueError names the bad item."""
    values: list[AxisValue] = []
    for item in text.replace(",", " ").replace(";", " ").split():
        value = _choice(item, choices) if choices else _number(item, kind)
        if value not in values:
            values.append(value)
    return tuple(values)


def _choice(item: str, choices: tuple[str, ...]) -> str:
    if item.lower() not in choices:
        raise ValueError(f"{item!r} is not one of {', '.join(choices)}")
    return item.lower()


def _number(item: str, kind: type[int] | type[float]) -> int | float:
    try:
        if kind is float:
            value = float(item)
            if not math.isfinite(value):
                raise ValueError(item)
            return value
        number = float(item)
        if not math.isfinite(number) or number != int(number):
            raise ValueError(item)
        return int(number)
    except ValueError:
        what = "a number" if kind is float else "a whole number"
        raise ValueError(f"{item!r} is not {what}") from None


@dataclass(frozen=True)
class Axis:
    """One swept setting: a list of values to choose from, or a range [low, high] (log-scaled if `log`).

    A choice setting (precision) has only lists, of its choices' names.
    """

    values: tuple[AxisValue, ...] = ()
    low: int | float | None = None
    high: int | float | None = None
    log: bool = False

    @property
    def is_range(self) -> bool:
        return self.low is not None or self.high is not None

    @property
    def count(self) -> int | None:
        """How many distinct values a list offers; None for a range."""
        return None if self.is_range else len(self.values)

    def bounds(self) -> tuple[AxisValue, ...]:
        """The values that bound this axis (the list itself, or low and high)."""
        return tuple(v for v in (self.low, self.high) if v is not None) if self.is_range else self.values

    def describe(self) -> str:
        if self.is_range:
            return f"{self.low}:{self.high}" + (":log" if self.log else "")
        return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in self.values)

    def to_dict(self) -> dict[str, Any]:
        if self.is_range:
            return {"low": self.low, "high": self.high, "log": self.log}
        return {"values": list(self.values)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Axis:
        if "values" in data:
            return cls(values=tuple(data["values"]))
        return cls(low=data.get("low"), high=data.get("high"), log=bool(data.get("log", False)))


def parse_axis(text: str, kind: type, choices: tuple[str, ...] = ()) -> Axis | None:
    """'0.001:0.5:log' → a log range, '0.0:0.95' → a range, '32, 64' → a list, '' → None (not swept).

    With `choices` (a choice setting such as precision) only a list of them is read: 'fp32, bf16'.
    """
    text = text.strip()
    if not text:
        return None
    if ":" not in text or choices:
        return Axis(values=parse_values(text, kind, choices))
    parts = [p.strip() for p in text.split(":")]
    log = len(parts) == 3 and parts[2].lower() == "log"
    if len(parts) not in (2, 3) or (len(parts) == 3 and not log):
        raise ValueError(f"{text!r} is not a range: write low:high or low:high:log")
    return Axis(low=_number(parts[0], kind), high=_number(parts[1], kind), log=log)


SLUG_MAX = 32  # characters of the name in a sweep id: the id stays a short folder name
# sweep-<date>-<time>-<4 hex>, then the name's slug if it had one; ids made before the slug still match.
_SWEEP_ID = re.compile(r"sweep-\d{8}-\d{6}-[0-9a-f]{4}(?:-[a-z0-9]+(?:-[a-z0-9]+)*)?")


def name_slug(name: str) -> str:
    """'LR search #2 (fast)' → 'lr-search-2-fast': ASCII letters and digits joined by single hyphens, at most
    SLUG_MAX characters, '' when nothing is left; safe as (part of) a folder name on any system."""
    ascii_text = unicodedata.normalize("NFKD", name[:1000]).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:SLUG_MAX].strip("-")


def named_sweep_id(sweep_id: str, name: str) -> str:
    """`sweep_id` with `name`'s slug after it, so a folder and a run's sweep column say whose sweep it is."""
    slug = name_slug(name)
    return f"{sweep_id}-{slug}" if slug else sweep_id


def new_sweep_id(name: str = "") -> str:
    """A unique, time-ordered sweep id, like run ids, ending with the sweep's name as a slug (if it has one)."""
    return named_sweep_id(f"sweep-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}", name)


def is_sweep_id(text: str) -> bool:
    """Whether `text` is a sweep id this package makes (either form): checked where one is read from disk."""
    return len(text) <= 64 and _SWEEP_ID.fullmatch(text) is not None


@dataclass(frozen=True)
class SweepSpec:
    """Which settings to vary and how, over a base config; every field plain data.

    `space` maps swept field names (SWEPT_FIELDS) to an Axis; the rest comes from `base`.
    grid: every combination of the lists; random and optuna (TPE): `samples` trials drawn from the
    lists and ranges. ASHA stops poor trials at epochs grace_period, ×reduction_factor, …
    """

    base: TrainConfig = field(default_factory=lambda: TrainConfig(device="cpu"))
    space: dict[str, Axis] = field(default_factory=dict)
    search: str = "random"
    samples: int = 8
    seed: int = 0
    scheduler: str = "none"
    # Measured on this network (bench/sweep.py --asha, 8 trials of 3 or 5 epochs, 4 sweeps): a grace period of
    # 2 trained 11-24% more epochs than 1 for the same best; a reduction factor of 4 trained 0-14% fewer
    # epochs than 3 (68 against 76 in all) with the best within 0.01 point; 2 once lost 0.27 point.
    grace_period: int = 1
    reduction_factor: int = 4
    metric: str = METRIC
    mode: str = METRIC_MODE
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int = 0  # 0: as many as the resources allow
    name: str = ""

    @property
    def trial_count(self) -> int:
        """How many trials this sweep runs, counted without listing them."""
        if self.search == "grid":
            return math.prod(axis.count or 0 for axis in self.space.values()) if self.space else 1
        return self.samples

    @property
    def max_epochs(self) -> int:
        """The most epochs any trial trains (ASHA's max_t)."""
        axis = self.space.get("epochs")
        return int(max(axis.bounds())) if axis and axis.bounds() else self.base.epochs

    def mean_value(self, name: str) -> float:
        """The expected value of a setting over the sweep (for estimates)."""
        axis = self.space.get(name)
        if axis is None or not axis.bounds():
            value = getattr(self.base, name)
            return float(MNIST_TRAIN_SIZE if name == "train_limit" and value is None else value)
        if axis.is_range:
            return (float(axis.low) + float(axis.high)) / 2
        return sum(float(v) for v in axis.values) / len(axis.values)

    def trial_config(self, values: dict[str, Any]) -> TrainConfig:
        """The config of one trial: the base with the drawn values (ints made ints again).

        A trial's CPU threads are its Ray CPUs unless the base names a count: "auto" counts the idle cores, and
        the first trials start on idle cores, so two 1-CPU trials each took both cores' worth of threads and
        trained 5-6x slower than later ones side by side (an epoch 4.2 s against 0.7 s; bench/sweep.py)."""
        drawn = {k: _as_kind(k, v) for k, v in values.items() if k in SWEPT_FIELDS}
        device = "cuda" if self.gpus_per_trial > 0 else self.base.device
        threads = self.base.threads if self.base.threads is not None else max(1, int(self.cpus_per_trial))
        return self.base.with_changes(**{"threads": threads, **drawn, "device": device})

    def problems(self) -> list[str]:
        """Every reason this sweep cannot run, as sentences; [] when it can."""
        found = self._choice_problems()
        if found:
            return found
        if self.trial_count > MAX_TRIALS:
            found.append(f"a sweep may run at most {MAX_TRIALS} trials (this one makes {self.trial_count:,})")
        found += self._space_problems()
        if not found and self.trial_count < 1:
            found.append("this sweep has no trials")
        return found

    def resource_problems(self, cpus: float, gpus: float, where: str) -> list[str]:
        """Why no trial could ever start on `cpus`/`gpus` (Ray would wait for them forever); [] when one fits."""
        found = []
        if self.cpus_per_trial > cpus:
            found.append(f"each trial asks for {self.cpus_per_trial:g} CPUs; {where}")
        if self.gpus_per_trial > gpus:
            found.append(f"each trial asks for {self.gpus_per_trial:g} GPUs; {where}")
        return found

    def _choice_problems(self) -> list[str]:
        found = []
        if self.search not in SEARCHES:
            found.append(f"search must be one of {', '.join(SEARCHES)} (got {self.search!r})")
        if self.scheduler not in SCHEDULERS:
            found.append(f"scheduler must be one of {', '.join(SCHEDULERS)} (got {self.scheduler!r})")
        if (self.metric, self.mode) != (METRIC, METRIC_MODE):
            found.append(f"the metric is {METRIC} ({METRIC_MODE}); got {self.metric!r} ({self.mode!r})")
        if not _whole(self.samples, 1):
            found.append(f"samples must be a whole number of at least 1 (got {self.samples!r})")
        if not _whole(self.grace_period, 1):
            found.append(f"grace period must be a whole number of epochs, at least 1 (got {self.grace_period!r})")
        if not _whole(self.reduction_factor, 2):
            found.append(f"reduction factor must be a whole number of at least 2 (got {self.reduction_factor!r})")
        if not _whole(self.max_concurrent, 0):
            found.append(f"max concurrent trials must be 0 (no limit) or more (got {self.max_concurrent!r})")
        if not _real(self.cpus_per_trial) or not 0 < self.cpus_per_trial <= 1024:
            found.append(f"CPUs per trial must be a number above 0, fractions allowed (got {self.cpus_per_trial!r})")
        if not _real(self.gpus_per_trial) or not 0 <= self.gpus_per_trial <= 64:
            found.append(f"GPUs per trial must be 0 or more, fractions allowed (got {self.gpus_per_trial!r})")
        unknown = sorted(set(self.space) - set(SWEPT_FIELDS))
        if unknown:
            found.append(f"cannot sweep {', '.join(unknown)}; sweepable: {', '.join(SWEPT_FIELDS)}")
        return found

    def _space_problems(self) -> list[str]:
        found: list[str] = []
        for name, axis in self.space.items():
            found += _axis_problems(name, axis, self.search)
        if found:
            return found
        seen: set[str] = set()
        for name, axis in self.space.items():
            for value in axis.bounds():
                for problem in self.base.with_changes(**{name: value}).problems(MNIST_TRAIN_SIZE, MNIST_TEST_SIZE):
                    text = str(problem) if problem.field == name else _base_problem(problem)
                    if text not in seen:
                        seen.add(text)
                        found.append(text)
        if not self.space:
            found += [_base_problem(p) for p in self.base.problems(MNIST_TRAIN_SIZE, MNIST_TEST_SIZE)]
        biggest_batch = max(self.space["batch_size"].bounds()) if "batch_size" in self.space else self.base.batch_size
        fewest_images = min(self.space["train_limit"].bounds()) if "train_limit" in self.space else None
        if not found and fewest_images is not None and biggest_batch > fewest_images:
            found.append(f"batch_size: a batch of {biggest_batch} is more than the {fewest_images} training images")
        return found

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only."""
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        data["base"] = self.base.to_dict()
        data["space"] = {name: axis.to_dict() for name, axis in self.space.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSpec:
        """Rebuild from to_dict() output (e.g. a JSON file), validated: SchemaError names a wrongly typed field.

        Unknown keys are ignored; whether the values make a sweep that can run is `problems()`'s to say.
        An axis's values are text only for a choice setting (precision) and numbers for the rest.
        """
        spec = parse_object(cls, data, "sweep spec")
        for name, axis in spec.space.items():
            text = name in SETTINGS and bool(SETTINGS[name].choices)
            for index, value in enumerate(axis.values):
                if isinstance(value, str) != text:
                    what = "text (one of the choices)" if text else "a number"
                    raise SchemaError("sweep spec", f"space.{name}.values.{index}", f"must be {what} (got {value!r})")
        return spec


# The one statement of a sweep's defaults: the Sweep tab's widgets and the CLI's flags start from it.
SWEEP_DEFAULTS = SweepSpec()


def _axis_problems(name: str, axis: Axis, search: str) -> list[str]:
    if axis.is_range:
        if SETTINGS[name].choices:
            return [f"{name}: list the choices to try ({', '.join(SETTINGS[name].choices)}), not a range"]
        if search == "grid":
            return [f"{name}: grid search needs a list of values, not a range ({axis.describe()})"]
        if axis.low is None or axis.high is None or not axis.low < axis.high:
            return [f"{name}: a range needs low < high (got {axis.describe()})"]
        if axis.log and axis.low <= 0:
            return [f"{name}: a log range must start above 0 (got {axis.describe()})"]
        return []
    if not axis.values:
        return [f"{name}: give at least one value"]
    return []


def _as_kind(name: str, value: Any) -> AxisValue:
    """A drawn value as its setting's type: Tune's randint and Optuna may hand back floats or numpy types."""
    kind = SETTINGS[name].kind
    if kind is int:
        return round(value)
    return float(value) if kind is float else str(value)


def _whole(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _base_problem(problem: ConfigProblem) -> str:
    return f"base settings: {problem}"
