"""A verdict on a run's checkpoint, cached in the run's folder: the one mechanism behind evaluation.json
(the MNIST test set) and handwriting.json (the user's digits).

A cache is read back only when it parses (schema.py checks it) and its key still matches (the
checkpoint file's size and mtime, and whatever else the verdict depends on); anything else is a
miss, and the verdict is computed afresh and written whole over it. A damaged cache is never a
broken run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from resnet_mnist.core.files import FileRefused, read_bounded, write_cache_file
from resnet_mnist.runs.schema import MAX_EVALUATION_BYTES, Misclassified, dumps_json, record_dict

__all__ = ["KeyedRecord", "Verdict", "VerdictCache", "checkpoint_stamp"]


class Verdict(Protocol):
    """What a cache file holds besides its format and key (a RunEvaluation is one)."""

    @property
    def total(self) -> int: ...
    @property
    def correct(self) -> int: ...
    @property
    def loss(self) -> float: ...
    @property
    def confusion(self) -> tuple[tuple[int, ...], ...]: ...
    @property
    def misclassified(self) -> Sequence[Misclassified]: ...
    @property
    def checkpoint_epoch(self) -> int: ...
    @property
    def computed_at(self) -> str: ...


class KeyedRecord(Protocol):
    """A parsed cache file: its key says which checkpoint (and question) it answers."""

    @property
    def key(self) -> Any: ...


R = TypeVar("R", bound=KeyedRecord)


def checkpoint_stamp(path: Path) -> tuple[int, int]:
    """(size, mtime_ns) of a checkpoint file: both change when it is rewritten."""
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


@dataclass(frozen=True)
class VerdictCache:
    """One cache file name and format tag; the same read and write rules for every such file."""

    file: str
    format: str

    def read(self, folder: Path, key: Any, parse: Callable[[bytes], R]) -> R | None:
        """The cached record if it parses and is for `key`; None (a miss) when absent, damaged, a link,
        too big, or for another checkpoint or question."""
        try:
            record = parse(read_bounded(folder / self.file, MAX_EVALUATION_BYTES))
        except FileRefused:  # a SchemaError is one too
            return None
        return record if record.key == key else None

    def write(self, folder: Path, key: Any, verdict: Verdict) -> None:
        """Write the verdict under `key` in one piece (a reader sees the old file or the new, never half);
        nothing when the run's folder is gone (deleted while the verdict was computed)."""
        data = {
            "format": self.format,
            "key": record_dict(key),
            "total": verdict.total,
            "correct": verdict.correct,
            "loss": verdict.loss,
            "confusion": [list(row) for row in verdict.confusion],
            "misclassified": [record_dict(m) for m in verdict.misclassified],
            "checkpoint_epoch": verdict.checkpoint_epoch,
            "computed_at": verdict.computed_at,
        }
        write_cache_file(folder / self.file, dumps_json(data).encode())
