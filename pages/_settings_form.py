"""The Train page's settings widgets, each built from its TrainConfig field's description.

A widget's key is `train_<field>`, its label, help, bounds and kind come from resnet_mnist's
SETTINGS, and `config_from_widgets` reads them all back: a new field needs no edit here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from resnet_mnist import TrainConfig
from resnet_mnist.core.config import SETTINGS
from resnet_mnist.core.settings import Setting
from resnet_mnist.ui import widget_echo
from resnet_mnist.ui.formatting import NUMBER_FORMAT, format_lr, hyperparams_label
from resnet_mnist.ui.plain_text import escape_markdown

SEED = TrainConfig()  # the seed's recipe: 10 epochs, lr 0.01, momentum 0.5, batch 64, test batch 1000, seed 1
GROUP_TITLES = {"hyperparameters": "Hyperparameters", "advanced": "Advanced", "device": "Device"}
LIVE = [s for s in SETTINGS.values() if s.live]  # lr and momentum: changeable while a job runs
_PAIRED = ("log_slider", "slider")  # widgets drawn as a slider plus a box to type in: the box holds the value
BOX_WIDTH = 96  # px: the typing box beside a slider


def key(name: str) -> str:
    """The session-state key of a field's widget."""
    return f"train_{name}"


def _scale_key(name: str) -> str:
    return f"train_{name}_scale"


def widget_defaults(device: str) -> dict[str, Any]:
    """Every widget's starting value: the seed's recipe on `device`."""
    defaults = {key(name): getattr(SEED, name) for name in SETTINGS}
    defaults.update({_scale_key(s.name): getattr(SEED, s.name) for s in SETTINGS.values() if s.widget in _PAIRED})
    defaults[key("device")] = device
    return defaults


def recipe(config: TrainConfig) -> str:
    """'3 epochs · lr 0.05 · momentum 0.9 · batch 64 · seed 1': what Start trains, epochs first."""
    return f"{config.epochs} epoch{'s' if config.epochs != 1 else ''} · {hyperparams_label(config)}"


def config_from_widgets() -> TrainConfig:
    """The config the widgets describe now (unvalidated)."""
    return TrainConfig(**{name: st.session_state[key(name)] for name in SETTINGS})


def in_group(group: str) -> list[Setting]:
    return [s for s in SETTINGS.values() if s.group == group]


def setting_widget(setting: Setting, choices: Sequence[str] = (), format_func: Callable[[str], str] = str) -> None:
    """The widget that suits `setting`; `choices` narrows a radio's options to those usable here."""
    common = {"key": key(setting.name), "help": setting.help, "persist_state": "session"}
    kind = setting.kind
    if setting.widget == "slider":
        _slider_and_box(setting, common)
    elif setting.widget == "log_slider":
        _log_slider(setting)
        typed = _typed(setting)
        st.number_input(setting.widget_label, format=NUMBER_FORMAT, step=setting.step, on_change=typed, **common)
        _between_stops(setting)
    elif setting.widget == "select_slider":
        st.select_slider(setting.widget_label, options=list(setting.stops), **common)
    elif setting.widget == "checkbox":
        st.checkbox(setting.widget_label, **common)
    elif setting.widget == "radio":
        collapsed = GROUP_TITLES.get(setting.group) == setting.label  # the group's header already says it
        visibility = "collapsed" if collapsed else "visible"
        options = list(choices or setting.choices)
        st.radio(setting.widget_label, options, format_func=format_func, label_visibility=visibility, **common)
    elif setting.optional:
        placeholder = setting.placeholder
        st.number_input(setting.widget_label, value=None, step=kind(setting.step), placeholder=placeholder, **common)
    else:
        st.number_input(setting.widget_label, step=kind(setting.step) if setting.step else None, **common)


def _slider_top(setting: Setting) -> float:
    return setting.widget_maximum if setting.widget_maximum is not None else setting.maximum


def _slider_and_box(setting: Setting, common: dict[str, Any]) -> None:
    """A slider to drag and, beside it, a box to type the exact value (also past the slider's end, up
    to the setting's own maximum); the box holds the value, the slider follows it."""
    kind, name = setting.kind, setting.name

    row = st.container(horizontal=True, vertical_alignment="bottom", gap="small")
    step = kind(setting.step) if setting.step else kind(1) if kind is int else None  # an int step: an int box
    row.slider(
        setting.widget_label,
        kind(setting.minimum),
        kind(_slider_top(setting)),
        step=step,
        key=_scale_key(name),
        on_change=_moved(setting),
        persist_state="session",
        help=setting.help,
    )
    row.number_input(
        f"{setting.widget_label}, typed",
        step=step,
        format=NUMBER_FORMAT if kind is float else None,
        on_change=_typed(setting),
        label_visibility="collapsed",
        width=BOX_WIDTH,
        **{k: v for k, v in common.items() if k != "help"},
    )


def _log_slider(setting: Setting) -> None:
    """A slider over 1-2-5 stops per decade that sets the exact number box below it."""
    st.select_slider(
        f"{setting.label} (log scale)",
        options=list(setting.stops),
        format_func=format_lr,
        key=_scale_key(setting.name),
        on_change=_moved(setting),
        persist_state="session",
        help="People think of 0.001, 0.01, 0.1: the slider moves in those steps. Type an exact value below.",
    )


def _between_stops(setting: Setting) -> None:
    """Say so when the box's value lies between the log slider's stops (0.0341 from a sweep's trial sits
    under a slider at 0.05): the run uses the box's value."""
    value = st.session_state[key(setting.name)]
    if value is None or not math.isfinite(value) or value in setting.stops:
        return
    below = [stop for stop in setting.stops if stop < value]
    above = [stop for stop in setting.stops if stop > value]
    if below and above:
        where = f"between the slider's steps {format_lr(max(below))} and {format_lr(min(above))}"
        st.caption(f"{where[0].upper()}{where[1:]}: the run uses {format_lr(value)}.")


def _moved(setting: Setting) -> Callable[[], None]:
    def moved() -> None:
        # The box takes the slider's value, unless this "move" is a lagging browser's echo of a value
        # the box had already put into the slider (widget_echo).
        if not widget_echo.is_echo(st.session_state, _scale_key(setting.name)):
            widget_echo.push(st.session_state, key(setting.name), st.session_state[_scale_key(setting.name)])

    return moved


def _typed(setting: Setting) -> Callable[[], None]:
    def typed() -> None:
        # Keep the slider at (or, on a log scale, near) a typed value; invalid values are left for the
        # notes under the field to name, the slider staying where it was. An echo changes nothing.
        if widget_echo.is_echo(st.session_state, key(setting.name)):
            return
        value = st.session_state[key(setting.name)]
        if value is None or not math.isfinite(value):
            return
        widget_echo.push(st.session_state, _scale_key(setting.name), _slider_position(setting, value))

    return typed


def _slider_position(setting: Setting, value: float) -> float:
    """Where a setting's slider shows `value`: the nearest 1-2-5 stop, or the value kept within its ends."""
    if setting.widget == "log_slider":
        if value <= 0:
            return min(setting.stops)
        return min(setting.stops, key=lambda stop: abs(math.log10(stop) - math.log10(value)))
    return setting.kind(min(max(value, setting.minimum), _slider_top(setting)))


def set_value(name: str, value: Any) -> None:
    """Put `value` into a setting's widget (and its slider, when it has one): before the widgets are drawn."""
    widget_echo.push(st.session_state, key(name), value)
    setting = SETTINGS[name]
    if setting.widget in _PAIRED and value is not None:
        widget_echo.push(st.session_state, _scale_key(name), _slider_position(setting, value))


def settle_pushed_values() -> None:
    """Once per run, before the widgets: forget the values the browser has received (widget_echo.settle)."""
    widget_echo.settle(st.session_state)


def live_values() -> dict[str, Any]:
    """The live settings' widget values, to apply to a running job."""
    return {s.name: st.session_state[key(s.name)] for s in LIVE}


def live_names() -> str:
    """'lr & momentum'."""
    return " & ".join(s.short for s in LIVE)


def show_problems(problems: Sequence[Any]) -> None:
    """Each ConfigProblem as one error box: '**Learning rate**: must be greater than 0 (got 0)'."""
    for problem in problems:
        st.error(f"**{problem.label}**: {escape_markdown(problem.message)}")
