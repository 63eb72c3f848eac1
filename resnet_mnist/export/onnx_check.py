"""An ONNX file run by onnxruntime on MNIST's test digits and compared with its checkpoint, answer by answer.

onnxruntime is the runtime most users of the file will run it with (Python, C++, the browser), so it is
what the check runs, as Hugging Face Optimum validates its exports. The reference is the checkpoint's
network in fp32, the arithmetic the file does; a run that computes in bf16 (precision auto on a CPU
with AMX or AVX512-BF16) can answer a few digits differently in bf16, which is not the file's doing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from resnet_mnist.core.data import MNIST_MEAN, MNIST_STD, MnistSplit
from resnet_mnist.core.model import Net
from resnet_mnist.export.onnx_graph import INPUT_NAME

if TYPE_CHECKING:
    import onnxruntime as ort

__all__ = ["CHECK_BATCH", "TOLERANCE", "ExportCheck", "check_onnx"]

TOLERANCE = 1e-4  # largest allowed |log-probability difference|; fp32 runtimes differ by ~1e-6
CHECK_BATCH = 1000  # digits per onnxruntime call: ~3 MB in, bounded whatever the split's size


@dataclass(frozen=True)
class ExportCheck:
    """How an exported file's answers compare with its checkpoint's on `digits` test digits."""

    digits: int
    agreed: int  # digits on which the file and the checkpoint give the same answer
    correct: int  # the file's right answers
    reference_correct: int  # the checkpoint's (fp32) right answers
    max_abs_diff: float  # largest |log-probability difference|; inf when an output is not finite
    non_finite: int  # digits whose log-probabilities from either side hold NaN or infinity
    tolerance: float
    seconds: float
    runtime: str  # "onnxruntime 1.32.0"

    @property
    def passed(self) -> bool:
        every_answer_agrees = self.digits > 0 and self.agreed == self.digits
        return every_answer_agrees and self.non_finite == 0 and self.max_abs_diff <= self.tolerance

    @property
    def agreement(self) -> float:
        return self.agreed / self.digits if self.digits else 0.0

    @property
    def accuracy(self) -> float:
        return self.correct / self.digits if self.digits else 0.0

    @property
    def reference_accuracy(self) -> float:
        return self.reference_correct / self.digits if self.digits else 0.0

    def summary(self) -> str:
        """One sentence: what was compared and how closely."""
        return (
            f"{self.runtime} and the checkpoint give the same answer on {self.agreed:,} of {self.digits:,} MNIST test "
            f"digits; log-probabilities within {self.max_abs_diff:.1e} (allowed {self.tolerance:.0e}); "
            f"accuracy {100 * self.accuracy:.2f}%"
        )

    def failure(self) -> str | None:
        """Why the check failed, in one sentence; None when it passed."""
        if self.passed:
            return None
        if self.digits == 0:
            return "there were no test digits to check it on"
        if self.non_finite:
            return f"its log-probabilities are NaN or infinite on {self.non_finite:,} of {self.digits:,} test digits"
        return f"{self.summary()}, so they do not match"


def check_onnx(
    data: bytes,
    net: Net,
    split: MnistSplit,
    *,
    tolerance: float = TOLERANCE,
    on_batch: Callable[[int, int], None] | None = None,
) -> ExportCheck:
    """Run the file `data` with onnxruntime and `net` (fp32) over `split`, CHECK_BATCH digits at a time.

    `on_batch(done, total)` is called after each batch.
    """
    started = time.perf_counter()
    session = _session(data)
    net = net.float().cpu().eval()
    total, agreed, correct, ref_correct, non_finite, worst = len(split), 0, 0, 0, 0, 0.0
    for start in range(0, total, CHECK_BATCH):
        images = split.images[start : start + CHECK_BATCH].cpu()  # (n, 1, 28, 28) normalised
        labels = split.labels[start : start + CHECK_BATCH].cpu().numpy()  # (n,)
        with torch.inference_mode():
            reference = net(images).numpy()  # (n, 10)
        output = session.run(None, {INPUT_NAME: _pixels(images).numpy()})[0]  # (n, 10)
        finite = np.isfinite(output).all(axis=1) & np.isfinite(reference).all(axis=1)  # (n,)
        non_finite += int((~finite).sum())
        if finite.any():
            worst = max(worst, float(np.abs(output[finite] - reference[finite]).max()))
        answers, ref_answers = output.argmax(axis=1), reference.argmax(axis=1)
        agreed += int(((answers == ref_answers) & finite).sum())
        correct += int((answers == labels).sum())
        ref_correct += int((ref_answers == labels).sum())
        if on_batch is not None:
            on_batch(min(start + CHECK_BATCH, total), total)
    return ExportCheck(
        digits=total,
        agreed=agreed,
        correct=correct,
        reference_correct=ref_correct,
        max_abs_diff=worst if non_finite == 0 else float("inf"),
        non_finite=non_finite,
        tolerance=tolerance,
        seconds=time.perf_counter() - started,
        runtime=f"onnxruntime {_runtime_version()}",
    )


def _runtime_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def _session(data: bytes) -> ort.InferenceSession:
    import onnxruntime as ort  # here, not at the top: every CLI command would pay for loading it

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # the same cores torch was given, not all of them
    options.log_severity_level = 3  # errors only: its warnings would interleave with a CLI's --json
    return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])


def _pixels(images: torch.Tensor) -> torch.Tensor:
    """Normalised MNIST images back to the pixels 0..1 the file takes: the original bytes / 255, exactly."""
    # (x·std + mean)·255 lies within ~1e-4 of the original whole number, so rounding gives it back.
    return (images * MNIST_STD + MNIST_MEAN).mul(255).round().div(255)  # (n, 1, 28, 28)
