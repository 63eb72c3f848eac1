"""A hyperparameter sweep as plain data: a base config plus value lists, expanded to configs.

SweepSpec holds only plain types, so it can be written to JSON (to_dict/from_dict) and handed
to whatever runs the jobs: today the dashboard's single worker, later perhaps a cluster.
"""

from __future__ import annotations

import itertools
import math
import random
import secrets
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from .config import SETTINGS, ConfigProblem, TrainConfig
from .data import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE

__all__ = [
    "MAX_SWEEP_RUNS",
    "SWEEP_MODES",
    "SWEPT_FIELDS",
    "SweepError",
    "SweepSpec",
    "new_sweep_id",
    "parse_values",
]

SWEEP_MODES = ("grid", "random")
SWEPT_FIELDS = tuple(name for name, setting in SETTINGS.items() if setting.sweepable)
MAX_SWEEP_RUNS = 64  # one worker runs them one after another; more is a job for a cluster


class SweepError(ValueError):
    """An invalid sweep; carries every problem found, each naming the field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def parse_values(text: str, kind: type[int] | type[float]) -> tuple[int | float, ...]:
    """'0.01, 0.05 0.1' → (0.01, 0.05, 0.1); duplicates dropped, order kept; ValueError names the bad item."""
    values: list[int | float] = []
    for item in text.replace(",", " ").replace(";", " ").split():
        try:
            value = kind(item) if kind is float else _parse_int(item)
        except ValueError:
            what = "a number" if kind is float else "a whole number"
            raise ValueError(f"{item!r} is not {what}") from None
        if value not in values:
            values.append(value)
    return tuple(values)


def _parse_int(text: str) -> int:
    number = float(text)
    if not math.isfinite(number) or number != int(number):
        raise ValueError(text)
    return int(number)


def new_sweep_id() -> str:
    """A unique, time-ordered sweep id, like run ids."""
    return f"sweep-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class SweepSpec:
    """A grid (every combination) or a random subset of `n` combinations over the swept fields.

    `values` maps a sweepable field (SWEPT_FIELDS) to the values to try; a field left out, or given
    no values, keeps the base config's value. `seed` makes the random choice repeatable.
    """

    base: TrainConfig = field(default_factory=TrainConfig)
    values: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    mode: str = "grid"
    n: int = 4
    seed: int = 0

    def _axes(self) -> list[tuple[str, tuple[Any, ...]]]:
        return [(name, tuple(self.values.get(name, ())) or (getattr(self.base, name),)) for name in SWEPT_FIELDS]

    @property
    def grid_size(self) -> int:
        """How many distinct combinations the value lists make."""
        return math.prod(len(values) for _, values in self._axes())

    @property
    def size(self) -> int:
        """How many runs this sweep queues."""
        if self.mode == "random":
            return max(0, min(self.n, self.grid_size))
        return self.grid_size

    def _combinations(self) -> list[dict[str, Any]]:
        names = [name for name, _ in self._axes()]
        grid = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(v for _, v in self._axes()))]
        if self.mode == "random":
            # Sampling the grid without replacement: n distinct configs, the same ones for the same seed.
            return random.Random(self.seed).sample(grid, self.size)
        return grid

    def problems(self) -> list[str]:
        """Every reason this sweep cannot run, as sentences; [] when it can."""
        found: list[str] = []
        unknown = sorted(set(self.values) - set(SWEPT_FIELDS))
        if unknown:
            found.append(f"only {', '.join(SWEPT_FIELDS)} can be swept (got {', '.join(unknown)})")
        if self.mode not in SWEEP_MODES:
            found.append(f"mode must be one of {', '.join(SWEEP_MODES)} (got {self.mode!r})")
        if found:
            return found
        if self.mode == "random" and (not isinstance(self.n, int) or isinstance(self.n, bool) or self.n < 1):
            found.append(f"the number of random runs must be a whole number of at least 1 (got {self.n!r})")
        if self.size > MAX_SWEEP_RUNS:
            found.append(f"a sweep may queue at most {MAX_SWEEP_RUNS} runs (this one makes {self.size})")
        if found:
            return found
        seen: set[str] = set()
        for name, values in self._axes():
            for value in values:
                for problem in self.base.with_changes(**{name: value}).problems(MNIST_TRAIN_SIZE, MNIST_TEST_SIZE):
                    text = str(problem) if problem.field == name else _base_problem(problem)
                    if text not in seen:
                        seen.add(text)
                        found.append(text)
        return found

    def configs(self) -> list[TrainConfig]:
        """The runs to queue, in order; SweepError if any value is invalid."""
        found = self.problems()
        if found:
            raise SweepError(found)
        return [self.base.with_changes(**combo) for combo in self._combinations()]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only."""
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        data["base"] = self.base.to_dict()
        data["values"] = {name: list(values) for name, values in self.values.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSpec:
        """Rebuild from to_dict() output; unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "base" in values:
            values["base"] = TrainConfig.from_dict(values["base"])
        if "values" in values:
            values["values"] = {name: tuple(v) for name, v in values["values"].items()}
        return cls(**values)


def _base_problem(problem: ConfigProblem) -> str:
    return f"base settings: {problem}"
