"""Plotly figures from plain data: no I/O, no torch, every colour from `palette`.

The pages only show what these return; the modules that compute (comparison, evaluation) build none.
"""

from .comparison import CURVE_METRICS, bands_figure, curves_figure, hparams_figure
from .draw import digit_figure, feature_grid_figure, probability_figure, saliency_figure
from .evaluation import confusion_figure, per_class_figure
from .importance import importance_figure
from .lr_find import lr_find_figure
from .training import accuracy_figure, loss_figure, metrics_from_events, thin_batches

__all__ = [
    "CURVE_METRICS",
    "accuracy_figure",
    "bands_figure",
    "confusion_figure",
    "curves_figure",
    "digit_figure",
    "feature_grid_figure",
    "hparams_figure",
    "importance_figure",
    "loss_figure",
    "lr_find_figure",
    "metrics_from_events",
    "per_class_figure",
    "probability_figure",
    "saliency_figure",
    "thin_batches",
]
