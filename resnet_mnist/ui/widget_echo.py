"""Values the server put into a widget, told apart from a person's change when a lagging browser sends
the old value back.

Streamlit sends every widget's value with each rerun. When the server sets a widget (moving the Epochs
slider sets its typing box) and the browser sends its next rerun (the Batch size slider moved) before
that answer arrived, the rerun carries the box's old value, which Streamlit takes for a change: its
callback would move the slider back and the epochs would be lost. The server remembers the values a
push replaced until the browser sends the pushed value back (it received it); a value among those is
an echo, answered by pushing again.

Works on any mutable mapping (Streamlit's session state in the pages), so it is tested without a server.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

_PENDING = "widget_echo_pending"  # widget key → {"value", "stale", "sent", "echoed"}


def _pending(state: MutableMapping[str, Any]) -> dict[str, dict[str, Any]]:
    if _PENDING not in state:
        state[_PENDING] = {}
    return state[_PENDING]


def push(state: MutableMapping[str, Any], key: str, value: Any) -> None:
    """Set widget `key` to `value` from the server (in a callback, or before the widget is drawn)."""
    pending = _pending(state)
    entry = pending.get(key)
    stale = entry["stale"] if entry else []
    if key in state and state[key] != value and state[key] not in stale:
        stale = [*stale, state[key]]
    pending[key] = {"value": value, "stale": [v for v in stale if v != value], "sent": False, "echoed": False}
    state[key] = value


def is_echo(state: MutableMapping[str, Any], key: str) -> bool:
    """In widget `key`'s on_change: True when its new value is one the server had already replaced (the
    pushed value is put back, and the callback should do nothing), False for a person's change."""
    entry = _pending(state).get(key)
    if entry is None:
        return False
    value = state[key]
    if value == entry["value"] or value in entry["stale"]:
        state[key] = entry["value"]
        entry["echoed"] = True
        return True
    del _pending(state)[key]  # a person typed or dragged: their value stands
    return False


def settle(state: MutableMapping[str, Any]) -> None:
    """Once per run, before the widgets are drawn: a push the browser has received is forgotten.

    A push made in this run goes out with this run's widgets; one from an earlier run whose widget sent
    no echo in this run came back as pushed (Streamlit calls on_change only for a changed value).
    """
    pending = _pending(state)
    for key, entry in list(pending.items()):
        if not entry["sent"]:
            entry["sent"] = True
        elif not entry["echoed"]:
            del pending[key]
        entry["echoed"] = False
