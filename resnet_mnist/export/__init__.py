"""Models exported for other runtimes (ONNX), each checked against its checkpoint before anyone gets it."""

from resnet_mnist.export.checked import (
    EXPORT_FORMATS,
    CheckedExport,
    ExportCheckFailed,
    ExportProgress,
    export_checked,
)
from resnet_mnist.export.onnx_check import TOLERANCE, ExportCheck
from resnet_mnist.export.onnx_graph import INPUT_NAME, OUTPUT_NAME, ExportError

__all__ = [
    "EXPORT_FORMATS",
    "INPUT_NAME",
    "OUTPUT_NAME",
    "TOLERANCE",
    "CheckedExport",
    "ExportCheck",
    "ExportCheckFailed",
    "ExportError",
    "ExportProgress",
    "export_checked",
]
