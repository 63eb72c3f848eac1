"""The one typed description of a training run, and the one place it is validated."""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .devices import DEVICE_CHOICES, device_problem

__all__ = ["MAX_EPOCHS", "ConfigError", "ConfigProblem", "TrainConfig"]

MAX_EPOCHS = 500


@dataclass(frozen=True)
class ConfigProblem:
    """One invalid field and what is wrong with it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ConfigError(ValueError):
    """Raised for an invalid TrainConfig; carries every problem found, each naming its field."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters and settings of one training run; defaults are the seed's recipe."""

    epochs: int = 10
    lr: float = 0.01
    momentum: float = 0.5
    batch_size: int = 64
    test_batch_size: int = 1000
    seed: int = 1
    device: str = "auto"
    log_interval: int = 10
    train_limit: int | None = None
    test_limit: int | None = None
    channels_last: bool = True

    def problems(self, train_size: int | None = None, test_size: int | None = None) -> list[ConfigProblem]:
        """Every invalid value, each with a message that names the field; [] when valid.

        `train_size`/`test_size`, when known, bound the batch sizes and limits.
        """
        found: list[ConfigProblem] = []

        def bad(field: str, message: str) -> None:
            found.append(ConfigProblem(field, message))

        def check_int(field: str, value: Any, minimum: int, maximum: int | None = None, what: str = "") -> None:
            if not _is_int(value):
                bad(field, f"{what or field} must be a whole number (got {value!r})")
            elif value < minimum:
                bad(field, f"{what or field} must be at least {minimum} (got {value})")
            elif maximum is not None and value > maximum:
                bad(field, f"{what or field} must be at most {maximum} (got {value})")

        check_int("epochs", self.epochs, 1, MAX_EPOCHS, "number of epochs")
        if not _is_real(self.lr):
            bad("lr", f"learning rate must be a number (got {self.lr!r})")
        elif not math.isfinite(self.lr) or self.lr <= 0:
            bad("lr", f"learning rate must be a finite number greater than 0 (got {self.lr})")
        if not _is_real(self.momentum):
            bad("momentum", f"momentum must be a number (got {self.momentum!r})")
        elif not (0 <= self.momentum < 1):
            bad("momentum", f"momentum must be in [0, 1) (got {self.momentum})")
        effective_train = _limited(train_size, self.train_limit)
        check_int("batch_size", self.batch_size, 1, effective_train, "batch size")
        check_int("test_batch_size", self.test_batch_size, 1, None, "test batch size")
        check_int("seed", self.seed, 0, 2**63 - 1, "seed")
        check_int("log_interval", self.log_interval, 1, None, "log interval")
        limits = (("train_limit", self.train_limit, train_size), ("test_limit", self.test_limit, test_size))
        for field, limit, size in limits:
            if limit is not None:
                check_int(field, limit, 1, size, field.replace("_", " "))
        if not isinstance(self.channels_last, bool):
            bad("channels_last", f"channels_last must be true or false (got {self.channels_last!r})")
        if self.device not in DEVICE_CHOICES:
            bad("device", f"unknown device {self.device!r}; choose one of {', '.join(DEVICE_CHOICES)}")
        else:
            problem = device_problem(self.device)
            if problem:
                bad("device", problem)
        return found

    def validate(self, train_size: int | None = None, test_size: int | None = None) -> TrainConfig:
        """Return self if valid, else raise ConfigError listing every problem."""
        found = self.problems(train_size, test_size)
        if found:
            raise ConfigError(found)
        return self

    def with_changes(self, **changes: Any) -> TrainConfig:
        """A copy with some fields replaced (unvalidated)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so it can go into JSON and weights_only checkpoints."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild from to_dict() output; unknown keys (from newer versions) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _limited(size: int | None, limit: int | None) -> int | None:
    if size is None:
        return limit if _is_int(limit) and limit > 0 else None  # a bad limit is its own problem
    if _is_int(limit) and 0 < limit < size:
        return limit
    return size
