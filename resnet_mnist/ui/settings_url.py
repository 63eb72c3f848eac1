"""A run's settings as the query part of a URL, and back: so a reload, a bookmark or a shared link
gives the same Train settings, and "Use these settings" is a link to the Train page.

Only settings that differ from the seed's recipe go into the URL (`?epochs=2&lr=0.05`), so links stay
short and an empty query means the seed's defaults. Reading is the boundary: every value is text
from whoever made the link, so each is parsed by its field's type, bounded, and checked with the
config's own rules; a value that fails is left out and said why, never half-used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from resnet_mnist.core.config import SETTINGS, TrainConfig
from resnet_mnist.core.settings import Setting

__all__ = ["SETTINGS_KEYS", "SettingsFromUrl", "settings_from_query", "settings_query"]

SETTINGS_KEYS = tuple(SETTINGS)  # the URL's keys are the settings' field names: epochs, lr, batch_size, …
_MAX_TEXT = 64  # no setting is written with more characters than this; longer text is refused unread
_NONE_TEXT = "all"  # an optional limit set to "all" (no limit)
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True)
class SettingsFromUrl:
    """The settings a URL gives (field → value, valid by the config's rules) and those it gave wrongly."""

    values: dict[str, Any] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)  # field → why its value was not used


def _as_text(value: Any) -> str:
    if value is None:
        return _NONE_TEXT
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if not value.is_integer() or abs(value) >= 1e16 else f"{value:g}"
    return str(value)


def settings_query(config: TrainConfig, base: TrainConfig | None = None) -> dict[str, str]:
    """The settings of `config` that differ from `base` (the seed's recipe), as URL query text."""
    base = base or TrainConfig()
    return {
        name: _as_text(getattr(config, name)) for name in SETTINGS_KEYS if getattr(config, name) != getattr(base, name)
    }


def _parse(text: str, setting: Setting) -> Any:
    """Text → a value of the setting's kind (or None when it is optional); ValueError if it is not one."""
    if setting.optional and text.lower() in (_NONE_TEXT, "none", ""):
        return None
    if setting.kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if setting.kind is int:
        return int(text)  # "1.5" and "1e3" are not whole numbers: ValueError
    if setting.kind is float:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {text!r}")
        return value
    return text


def settings_from_query(params: Mapping[str, str | list[str]]) -> SettingsFromUrl:
    """The Train settings in a URL's query; other keys are not settings and are skipped."""
    values: dict[str, Any] = {}
    ignored: dict[str, str] = {}
    for name in SETTINGS_KEYS:
        if name not in params:
            continue
        text = _text(params[name])
        if len(text) > _MAX_TEXT:
            ignored[name] = f"the link's value is {len(text)} characters long; no setting needs more than {_MAX_TEXT}"
            continue
        try:
            values[name] = _parse(text, SETTINGS[name])
        except ValueError:
            ignored[name] = f"the link's value {text!r} is not a {_describe(SETTINGS[name])}"
    for problem in TrainConfig(**values).problems() if values else []:
        if problem.field in values:
            del values[problem.field]
            ignored.setdefault(problem.field, f"the link's value {_text(params[problem.field])!r} {problem.message}")
    return SettingsFromUrl(values, ignored)


def _describe(setting: Setting) -> str:
    names = {int: "whole number", float: "number", bool: "true or false", str: "name"}
    text = names.get(setting.kind, "value")
    return f"{text} (or {_NONE_TEXT})" if setting.optional else text


def _text(raw: str | list[str]) -> str:
    """A query value as text; a key given several times counts by its last value."""
    return str((raw[-1] if raw else "") if isinstance(raw, list) else raw).strip()
