"""A checkpoint's network as an ONNX file that takes plain pixels and gives log-probabilities.

torch.onnx.export with dynamo=True (torch 2.14's default; it traces through torch.export and writes
the graph with onnxscript): the TorchScript-based exporter (dynamo=False) is deprecated and warns on
every call. No TorchScript file is offered either: torch.jit is deprecated too (FutureWarning in
2.14), and loading one runs its code, unlike our weights-only checkpoints; PyTorch users have the
checkpoint itself.

MNIST's normalisation is baked into the graph, so a user feeds pixels 0..1 (white digit on black,
what torchvision's ToTensor gives) and cannot forget the 0.1307/0.3081 step, which would give
wrong answers without any error.
"""

from __future__ import annotations

import threading

import torch
import torch.nn as nn

from resnet_mnist.core.data import MNIST_MEAN, MNIST_STD
from resnet_mnist.core.model import Net

__all__ = ["INPUT_NAME", "OUTPUT_NAME", "ExportError", "onnx_bytes"]

INPUT_NAME = "image"  # (batch, 1, 28, 28) float32 pixels 0..1, white digit on black
OUTPUT_NAME = "log_probs"  # (batch, 10) float32 log-probabilities of the digits 0..9
_SAMPLE_BATCH = 2  # torch.export specialises a dimension of size 1, so trace with 2; the batch stays dynamic
# torch.export traces with global state (dynamo's caches): one export at a time in this process.
_export_lock = threading.Lock()


class ExportError(RuntimeError):
    """The exporter could not turn the network into an ONNX graph; the message says why."""


class PixelsToLogProbs(nn.Module):
    """The Net behind MNIST's normalisation: pixels 0..1 in, log-probabilities out."""

    def __init__(self, net: Net) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        # The same operations in the same order as core/data.normalize after its division by 255.
        return self.net((image - MNIST_MEAN) / MNIST_STD)  # (N, 1, 28, 28) → (N, 10)


def onnx_bytes(net: Net, metadata: dict[str, str]) -> bytes:
    """The serialised ONNX model of `net` (fp32, on the CPU), batch dimension dynamic; `metadata` goes
    into the file's metadata_props, which Netron shows."""
    model = PixelsToLogProbs(net.float().cpu()).eval()
    sample = torch.rand(_SAMPLE_BATCH, 1, 28, 28)
    batch = torch.export.Dim("batch", min=1)
    with _export_lock:
        try:
            program = torch.onnx.export(
                model,
                (sample,),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes={"image": {0: batch}},
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        except Exception as exc:  # the exporter is a large foreign library: any failure is one line
            raise ExportError(f"the ONNX exporter failed: {type(exc).__name__}: {_first_line(exc)}") from None
    proto = program.model_proto
    proto.doc_string = "ResNet MNIST Studio: the seed's small ResNet; input pixels 0..1, output log-probabilities"
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else "no message"
