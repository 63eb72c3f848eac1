"""The Sweep tab's form as plain values: widget key → what the widget shows, from a SweepSpec or a URL.

Used three ways: a fresh session's form (a reload) starts from the last sweep started, read from its
request.json, so the form never forgets it (issue 25.2); what was typed and not started yet rides in the
page's URL, as the Train settings do (`?sweep_lr=0.001:0.5:log&sweep_search=optuna`), so a reload keeps
it too; and "Run again" fills the form with an ended sweep's settings. The widgets' bounds live here, and
every value is clamped to them and checked against its choices, so neither a hand-edited request nor a
hand-made link can make a widget refuse its default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from resnet_mnist.core.config import SETTINGS
from resnet_mnist.sweeps.spec import MAX_TRIALS, SCHEDULERS, SEARCHES, SWEEP_DEFAULTS, SWEPT_FIELDS, SweepSpec

__all__ = ["NUMBER_BOUNDS", "axis_key", "form_from_query", "form_query", "form_values", "initial_form_values"]

# key → (lowest, highest) of each number box; ints stay ints, floats floats
NUMBER_BOUNDS: dict[str, tuple[int | float, int | float]] = {
    "sweep_samples": (1, MAX_TRIALS),
    "sweep_seed": (0, 2**31 - 1),
    "sweep_test_limit": (0, 10_000),
    "sweep_grace": (1, 100),
    "sweep_factor": (2, 10),
    "sweep_cpus": (0.25, 64.0),
    "sweep_gpus": (0.0, 8.0),
    "sweep_concurrent": (0, 256),
}


def axis_key(name: str) -> str:
    return f"sweep_{name}"


def _axis_texts(spec: SweepSpec) -> dict[str, Any]:
    """Each swept setting's box: its axis as typed (a list or low:high[:log]); '' or [] where not swept."""
    values: dict[str, Any] = {}
    for name in SWEPT_FIELDS:
        axis, choices = spec.space.get(name), SETTINGS[name].choices
        if choices:
            values[axis_key(name)] = [v for v in (axis.values if axis else ()) if v in choices]
        else:
            values[axis_key(name)] = axis.describe() if axis else ""
    return values


def _clamped(key: str, value: Any) -> int | float:
    low, high = NUMBER_BOUNDS[key]
    kind = type(low)
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError):
        number = low
    return min(max(number, low), high)


def form_values(spec: SweepSpec) -> dict[str, Any]:
    """Every widget's value for `spec`: the space, the test images, search, scheduler and its settings,
    resources and name (the Ray address is not part of a spec and keeps its own default)."""
    numbers = {
        "sweep_samples": spec.samples,
        "sweep_seed": spec.seed,
        "sweep_test_limit": spec.base.test_limit or 0,
        "sweep_grace": spec.grace_period,
        "sweep_factor": spec.reduction_factor,
        "sweep_cpus": spec.cpus_per_trial,
        "sweep_gpus": spec.gpus_per_trial,
        "sweep_concurrent": spec.max_concurrent,
    }
    return {
        **_axis_texts(spec),
        **{key: _clamped(key, value) for key, value in numbers.items()},
        "sweep_search": spec.search if spec.search in SEARCHES else SWEEP_DEFAULTS.search,
        "sweep_scheduler": spec.scheduler if spec.scheduler in SCHEDULERS else SWEEP_DEFAULTS.scheduler,
        "sweep_name": spec.name.strip()[:60],
    }


def initial_form_values() -> dict[str, Any]:
    """The form before any sweep: SWEEP_DEFAULTS, each number box with its setting's suggested values."""
    values = form_values(SWEEP_DEFAULTS)
    for name in SWEPT_FIELDS:
        if not SETTINGS[name].choices:
            values[axis_key(name)] = ", ".join(f"{v:g}" for v in SETTINGS[name].sweep_values)
    return values


_MAX_URL_TEXT = 1000  # as the axis boxes' max_chars; longer text in a link is refused unread
_CHOICE_KEYS = {"sweep_search": SEARCHES, "sweep_scheduler": SCHEDULERS}


def _as_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def form_query(values: Mapping[str, Any], start: Mapping[str, Any]) -> dict[str, str]:
    """The form's values that differ from where it started, as URL query text (widget key → text)."""
    return {key: _as_text(value) for key, value in values.items() if key in start and value != start[key]}


def _from_text(key: str, text: str, start: Any) -> Any:
    """One widget's value from a link's text, or ValueError: numbers clamped, choices checked."""
    if key in NUMBER_BOUNDS:
        number = float(text) if isinstance(NUMBER_BOUNDS[key][0], float) else int(text)
        if not math.isfinite(number):
            raise ValueError(text)
        return _clamped(key, number)
    if key in _CHOICE_KEYS:
        if text not in _CHOICE_KEYS[key]:
            raise ValueError(text)
        return text
    if isinstance(start, list):  # a multiselect: its picks, each one of its choices
        name = key.removeprefix("sweep_")
        picks = [v for v in text.split(",") if v]
        if any(v not in SETTINGS[name].choices for v in picks):
            raise ValueError(text)
        return picks
    return text.strip()[:60] if key == "sweep_name" else text  # an axis box: the form says what is wrong with it


def form_from_query(params: Mapping[str, str], start: Mapping[str, Any]) -> dict[str, Any]:
    """The form's values a URL gives (only the form's own keys); a value that is not one is left out."""
    values: dict[str, Any] = {}
    for key, text in params.items():
        if key not in start or not isinstance(text, str) or len(text) > _MAX_URL_TEXT:
            continue
        try:
            values[key] = _from_text(key, text, start[key])
        except (ValueError, OverflowError):
            continue
    return values
