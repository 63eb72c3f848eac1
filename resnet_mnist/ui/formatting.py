"""Numbers, durations and the model as short human-readable text, the same on every page."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from resnet_mnist.core.config import TrainConfig
from resnet_mnist.core.settings import SIGNIFICANT_DIGITS, significant

__all__ = [
    "MISSING",
    "NUMBER_FORMAT",
    "SIGNIFICANT_DIGITS",
    "format_count",
    "format_duration",
    "format_lr",
    "format_number",
    "hyperparams_label",
    "layer_rows",
]

# The same for Streamlit's number columns and boxes, which format with sprintf-js: its %.3g drops trailing
# zeros like Python's (0.05, not 0.0500), while a bare %g prints all 17 digits of a float.
NUMBER_FORMAT = f"%.{SIGNIFICANT_DIGITS}g"
MISSING = "—"  # an empty cell: each table says in its column's help why a value can be missing


def format_duration(seconds: float | None, *, compact: bool = False) -> str:
    """'42 s', '3 min 05 s', '1 h 02 min' ('3m 05s', '1h 02m' compact, for narrow tiles); MISSING when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return MISSING
    whole = round(seconds)
    if whole < 60:  # under a second, two significant digits: testing 1,000 images takes '0.031 s', not '0.0 s'
        short = f"{significant(seconds, 2)} s" if seconds < 1 else f"{seconds:.1f} s"
        text = short if seconds < 10 else f"{whole} s"
        return text.replace(" ", "") if compact else text
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s" if compact else f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if compact else f"{hours} h {minutes:02d} min"


def format_count(value: float | None, unit: str = "") -> str:
    """Thousands separated, no decimals: '12,345 images/s'; MISSING when unknown."""
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{value:,.0f}{' ' + unit if unit else ''}"


def format_number(value: float | None, digits: int = SIGNIFICANT_DIGITS) -> str:
    """A setting's value to `digits` significant digits, written as Python writes the rounded number: 0.0341,
    0.9, 1000 (not 1e+03), 1e-05; MISSING when there is none."""
    if value is None or not math.isfinite(value):
        return MISSING
    return significant(value, digits)


def format_lr(value: float) -> str:
    """A learning rate (or momentum) the way people write it: 0.01, 0.0005, 0.0341, 1e-05."""
    return format_number(value)


def hyperparams_label(
    config: TrainConfig | dict[str, Any], *, lr: float | None = None, momentum: float | None = None
) -> str:
    """'lr 0.01 · momentum 0.5 · batch 64 · seed 1'; a live lr/momentum shows as 'lr 0.01→0.05'."""
    # Duck-typed: after Streamlit reloads edited modules, a running job's config is of the old class.
    data = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    parts = []
    for name, live, fmt in (("lr", lr, format_lr), ("momentum", momentum, format_lr)):
        start = data.get(name)
        if start is None:
            continue
        text = f"{name} {fmt(start)}"
        if live is not None and not math.isclose(live, start):
            text += f"→{fmt(live)}"
        parts.append(text)
    if data.get("batch_size") is not None:
        parts.append(f"batch {data['batch_size']}")
    if data.get("seed") is not None:
        parts.append(f"seed {data['seed']}")
    if data.get("train_limit"):
        parts.append(f"{data['train_limit']:,} train images")
    return " · ".join(parts)


def layer_rows(model: nn.Module, input_shape: tuple[int, ...] = (1, 1, 28, 28)) -> list[dict[str, Any]]:
    """One row per top-level layer in the order forward() runs them: name, kind, output shape, parameters.

    Shapes come from running one dummy image through the model, so they are what forward() does,
    not what the constructor suggests; a layer forward() never calls comes last, marked unused.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [
        module.register_forward_hook(lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:])))
        for name, module in model.named_children()
    ]
    was_training = model.training
    try:
        model.eval()
        device = next(model.parameters()).device
        with torch.no_grad():
            model(torch.zeros(input_shape, device=device))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    order = list(shapes)  # dicts keep insertion order: the order the hooks fired
    children = sorted(model.named_children(), key=lambda c: order.index(c[0]) if c[0] in shapes else len(order))
    rows = []
    for name, module in children:
        shape = shapes.get(name)
        rows.append(
            {
                "layer": name,
                "type": _describe(module),
                "output": " × ".join(str(d) for d in shape) if shape else "unused by forward()",
                "parameters": sum(p.numel() for p in module.parameters()),
            }
        )
    return rows


def _describe(module: nn.Module) -> str:
    if isinstance(module, nn.Conv2d):
        k = "×".join(str(s) for s in module.kernel_size)
        return f"Conv2d {module.in_channels}→{module.out_channels}, {k}"
    if isinstance(module, nn.Linear):
        return f"Linear {module.in_features}→{module.out_features}"
    children = list(module.children())
    if children and all(isinstance(c, nn.Conv2d) for c in children):
        first = children[0]
        return f"{type(module).__name__}: {len(children)} × Conv2d {first.out_channels}, 3×3 + skip"
    return type(module).__name__
