"""How a setting describes itself, read back from a dataclass field's metadata.

Each TrainConfig field carries one `Setting` (label, help, bounds, widget, live, sweepable), so the
Train page's widgets, the CLI's flags, the Runs table's columns, the validation messages and the
sweep form are all built from one description: a new field is one edit, next to the field.
"""

from __future__ import annotations

import math
import numbers
import types
import typing
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any

__all__ = [
    "GROUPS",
    "SIGNIFICANT_DIGITS",
    "WIDGETS",
    "Setting",
    "describe",
    "rounded",
    "settings_of",
    "significant",
    "value_problem",
]

# Where a setting's widget sits on the Train page, in page order.
GROUPS = ("hyperparameters", "advanced", "device")
# The widget that suits a setting: a plain slider, a log-scale slider over `stops` with an exact number
# box below it, a slider over the `stops`, a number box (empty allowed when optional), a checkbox, a radio.
WIDGETS = ("slider", "log_slider", "select_slider", "number", "checkbox", "radio")

_KEY = "setting"
# lr 0.0341, momentum 0.95, 1e-05: three significant digits tell settings apart the way people write them.
SIGNIFICANT_DIGITS = 3


def rounded(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """A number to `digits` significant digits, as a person would type it: 0.0167, not 0.016666666666666666."""
    return float(f"{value:.{digits}g}")


def significant(value: float, digits: int = SIGNIFICANT_DIGITS) -> str:
    """A number to `digits` significant digits, written as Python writes the rounded number: 0.0341, 0.9,
    1000 (not 1e+03), 1e-05. Every page, legend and table writes a setting's value this way."""
    return repr(rounded(value, digits)).removesuffix(".0")


@dataclass(frozen=True)
class Setting:
    """Everything the interfaces need to know about one setting; `name` and `kind` come from the field."""

    label: str  # "Learning rate": widget label, table header, the subject of error messages
    help: str  # one sentence, shown as the widget's tooltip and the CLI flag's help
    short: str  # "lr", "batch": legend labels ("batch=64") and the Runs table's column
    widget: str = "number"
    group: str = "advanced"
    unit: str = ""  # "batches", "images": added to the widget label in brackets when set
    minimum: float | None = None
    maximum: float | None = None
    above_minimum: bool = False  # the minimum itself is not allowed (lr > 0)
    below_maximum: bool = False  # the maximum itself is not allowed (momentum < 1)
    choices: tuple[str, ...] = ()
    stops: tuple[float, ...] = ()  # the positions of a select/log slider
    widget_maximum: float | None = None  # a slider's top when lower than the valid maximum
    step: float | None = None
    placeholder: str = ""  # shown in an empty optional number box
    live: bool = False  # can change while a job runs (applied from the next batch)
    shapes_result: bool = True  # runs that differ here can learn differently: name it in legends
    sweep_values: tuple[float, ...] = ()  # sweepable when set: the sweep form's starting values
    sweep_choices: bool = False  # a choice setting a sweep may vary over its choices; the form starts it unswept
    column: str = ""  # the Runs table's header when it differs from `short`
    name: str = ""
    kind: type = object  # int, float, bool or str
    optional: bool = False  # None is allowed (and means "all")

    @property
    def sweepable(self) -> bool:
        return bool(self.sweep_values) or (self.sweep_choices and bool(self.choices))

    @property
    def widget_label(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def table_column(self) -> str:
        return self.column or self.short


def describe(**description: Any) -> dict[str, Setting]:
    """Field metadata for `dataclasses.field(metadata=describe(label=..., help=..., ...))`."""
    setting = Setting(**description)
    if setting.widget not in WIDGETS or setting.group not in GROUPS:
        raise ValueError(f"{setting.label}: unknown widget {setting.widget!r} or group {setting.group!r}")
    return {_KEY: setting}


def settings_of(cls: type) -> dict[str, Setting]:
    """Each described field of dataclass `cls` by name, in field order, with its name and kind filled in."""
    if not is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    found = {}
    for field in fields(cls):
        setting = field.metadata.get(_KEY)
        if setting is None:
            continue
        kind, optional = _unwrap(hints[field.name])
        found[field.name] = replace(setting, name=field.name, kind=kind, optional=optional)
    return found


def _unwrap(hint: Any) -> tuple[type, bool]:
    """`int | None` → (int, True); `float` → (float, False)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], True
    return hint, False


def value_problem(setting: Setting, value: Any, maximum: float | None = None) -> str | None:
    """What is wrong with `value` for `setting`, worded without its label ("must be at least 1 (got 0)").

    `maximum`, when given, tightens the setting's own (a batch no bigger than the training set).
    """
    if value is None and setting.optional:
        return None
    if setting.kind is bool:
        return None if isinstance(value, bool) else f"must be true or false (got {value!r})"
    if setting.choices:
        return None if value in setting.choices else f"must be one of {', '.join(setting.choices)} (got {value!r})"
    if setting.kind is int:
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            return f"must be a whole number (got {value!r})"
    elif not isinstance(value, numbers.Real) or isinstance(value, bool):
        return f"must be a number (got {value!r})"
    elif not math.isfinite(value):
        return f"must be a finite number (got {value})"
    return _bounds_problem(setting, value, _tighter(setting.maximum, maximum))


def _tighter(own: float | None, given: float | None) -> float | None:
    return given if own is None else own if given is None else min(own, given)


def _bounds_problem(setting: Setting, value: float, maximum: float | None) -> str | None:
    low, high = setting.minimum, maximum
    too_low = low is not None and (value <= low if setting.above_minimum else value < low)
    too_high = high is not None and (value >= high if setting.below_maximum else value > high)
    if not (too_low or too_high):
        return None
    if low is not None and high is not None and (setting.above_minimum or setting.below_maximum):
        opening, closing = "(" if setting.above_minimum else "[", ")" if setting.below_maximum else "]"
        interval = f"{opening}{_number(low)}, {_number(high)}{closing}"
        return f"must be in {interval} (got {value})"
    if too_low:
        return f"must be {'greater than' if setting.above_minimum else 'at least'} {_number(low)} (got {value})"
    return f"must be {'less than' if setting.below_maximum else 'at most'} {_number(high)} (got {value})"


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"
