"""Export a checkpoint and check the file on MNIST's test set before it is offered: the one way in.

A file whose check fails is never returned (ExportCheckFailed says why), so neither the CLI nor the
page can offer one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from resnet_mnist.core.data import load_split
from resnet_mnist.export.onnx_check import TOLERANCE, ExportCheck, check_onnx
from resnet_mnist.export.onnx_graph import INPUT_NAME, OUTPUT_NAME, onnx_bytes
from resnet_mnist.runs.checkpoint import Checkpoint

__all__ = ["EXPORT_FORMATS", "CheckedExport", "ExportCheckFailed", "ExportProgress", "export_checked"]

EXPORT_FORMATS = ("onnx",)  # no TorchScript: see onnx_graph.py


class ExportCheckFailed(ValueError):
    """The exported file does not answer as its checkpoint does; it is not offered."""

    def __init__(self, check: ExportCheck) -> None:
        super().__init__(f"the exported model failed its check, so it is not offered: {check.failure()}")
        self.check = check


@dataclass(frozen=True)
class ExportProgress:
    """Where an export stands: `stage` "export" (tracing the network) or "check" (`done` of `total` digits)."""

    stage: str
    done: int = 0
    total: int = 0

    @property
    def fraction(self) -> float:
        """0..1 of the whole: tracing takes about as long as checking 10,000 digits, so each is half the bar."""
        if self.stage == "export":
            return 0.05  # started; the exporter says nothing until it is done
        return 0.5 + 0.5 * (self.done / self.total if self.total else 1.0)

    @property
    def text(self) -> str:
        if self.stage == "export":
            return "Exporting the network to ONNX…"
        return f"Checking the file with onnxruntime: {self.done:,} of {self.total:,} MNIST test digits…"


@dataclass(frozen=True)
class CheckedExport:
    """A file that passed its check: its bytes, its format and the check's figures."""

    format: str
    data: bytes
    check: ExportCheck
    input_name: str = INPUT_NAME
    output_name: str = OUTPUT_NAME


def export_checked(
    checkpoint: Checkpoint,
    *,
    source: str,
    data_root: str | os.PathLike[str] | None = None,
    test_limit: int | None = None,
    tolerance: float = TOLERANCE,
    on_progress: Callable[[ExportProgress], None] | None = None,
) -> CheckedExport:
    """The checkpoint as an ONNX file, checked on the first `test_limit` MNIST test digits (all when None).

    `source` (a run id or a file name) is written into the file's metadata. Raises DatasetError without
    MNIST, ExportError when the exporter fails, ExportCheckFailed when the file's answers differ.
    """
    report = on_progress or (lambda progress: None)
    split = load_split(data_root, train=False, limit=test_limit)  # before the export: no MNIST, no waiting
    report(ExportProgress("export"))
    data = onnx_bytes(checkpoint.build_model(), _metadata(checkpoint, source))
    report(ExportProgress("check", 0, len(split)))
    check = check_onnx(
        data,
        checkpoint.build_model(),
        split,
        tolerance=tolerance,
        on_batch=lambda done, total: report(ExportProgress("check", done, total)),
    )
    if not check.passed:
        raise ExportCheckFailed(check)
    return CheckedExport(format="onnx", data=data, check=check)


def _metadata(checkpoint: Checkpoint, source: str) -> dict[str, str]:
    accuracy = checkpoint.test_accuracy
    return {
        "source": source,
        "epoch": str(checkpoint.epoch),
        "test_accuracy": "" if accuracy is None else f"{accuracy:.4f}",
        "input": f"{INPUT_NAME}: float32 (batch, 1, 28, 28), pixels 0..1, white digit on black, centred as MNIST's "
        "(MNIST's normalisation, mean 0.1307 and std 0.3081, is inside the graph)",
        "output": f"{OUTPUT_NAME}: float32 (batch, 10), log-probabilities of the digits 0-9 (exp gives probabilities)",
    }
