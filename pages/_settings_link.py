"""The Train settings in the page's URL (`/train?epochs=2&lr=0.05`): a reload, a bookmark or a shared link
gives the same settings, and "Use these settings" on a run is a link, or a click, that fills the form.

The URL holds what differs from the seed's recipe (resnet_mnist.ui.settings_url writes it, and reads
and checks a link's values before any widget gets one). A URL this session wrote itself is not read
back, even an older one a lagging rerun brings; an empty one (after a page switch) leaves the form
as it was; a "Use these settings" link (its own token) is always read.
"""

from __future__ import annotations

import secrets
from typing import Any

import streamlit as st

from pages import _settings_form as form
from resnet_mnist import TrainConfig
from resnet_mnist.core.config import SETTINGS
from resnet_mnist.core.devices import default_device
from resnet_mnist.ui.plain_text import escape_markdown
from resnet_mnist.ui.settings_url import SETTINGS_KEYS, settings_from_query, settings_query

_WRITTEN = "train_url_written"  # the queries this session wrote, newest last: anything else came from outside
_LEFT_OUT = "train_url_left_out"  # field → why a link's value for it was not used
_LINKS_TAKEN = "train_url_links_taken"  # the tokens of the "Use these settings" links already followed
LINK_TOKEN = "use"  # a link's own query key: a fresh token marks a click, even to settings written before
_REMEMBERED = 64  # queries and tokens kept: a lagging rerun brings back one of the last few


def _base(default_device: str) -> TrainConfig:
    """What an empty URL means: the seed's recipe on this machine's default device."""
    return TrainConfig(device=default_device)


def _widget_problem(name: str, value: Any, usable_devices: list[str]) -> str | None:
    """Why a valid value cannot go into its widget here: a batch between the slider's stops, a device this
    machine lacks."""
    setting = SETTINGS[name]
    if setting.widget == "select_slider" and value not in setting.stops:
        stops = ", ".join(f"{stop:g}" for stop in setting.stops)
        return f"the link's {value} is not one of the slider's values ({stops})"
    if name == "device" and value not in usable_devices:  # the one radio narrowed to this machine (Precision is not)
        return f"the link's {value} cannot be used on this machine"
    return None


def fill_form(config: TrainConfig, usable_devices: list[str], default_device: str) -> dict[str, str]:
    """Put `config`'s settings into the Train widgets (in a callback, or before they are drawn).

    Returns field → why its value was left out (the widget keeps what it had).
    """
    left_out = {}
    for name in SETTINGS:
        value = getattr(config, name)
        if name == "device" and value == "auto":
            value = default_device
        problem = _widget_problem(name, value, usable_devices)
        if problem:
            left_out[name] = problem
        else:
            form.set_value(name, value)
    return left_out


def read_url(usable_devices: list[str], default_device: str) -> None:
    """Before the widgets are drawn: a URL this session did not write (reload, bookmark, link) fills the form.

    Every rerun carries the browser's URL, which lags behind the server's writes: moving a slider
    quickly on a busy machine sends back the URL of a value or two ago. Such a URL was written by
    this session, so it is not read (it would throw the newer values away). A "Use these settings"
    link carries a token of its own, so following one is read even when it names settings this
    session had before.
    """
    params = st.query_params.to_dict()
    query = {k: v for k, v in params.items() if k in SETTINGS_KEYS}
    token = params.get(LINK_TOKEN)
    if token is not None:
        if not _remember(_LINKS_TAKEN, token):
            return  # a lagging rerun bringing a followed link back
    elif not query or query in st.session_state.get(_WRITTEN, []):
        return  # nothing from outside: the widgets keep this session's values (also after a page switch)
    read = settings_from_query(query)
    left_out = dict(read.ignored)
    left_out.update(fill_form(_base(default_device).with_changes(**read.values), usable_devices, default_device))
    st.session_state[_LEFT_OUT] = left_out
    _remember(_WRITTEN, query)


def _remember(name: str, item: Any) -> bool:
    """Add `item` to the session's list `name` (keeping the last _REMEMBERED); False if it was there."""
    seen = st.session_state.setdefault(name, [])
    if item in seen:
        return False
    seen.append(item)
    del seen[:-_REMEMBERED]
    return True


def write_url(config: TrainConfig, default_device: str, invalid: set[str]) -> None:
    """After the widgets: the URL says what the form says (a field with an error is left out of it)."""
    query = {k: v for k, v in settings_query(config, base=_base(default_device)).items() if k not in invalid}
    current = {k: v for k, v in st.query_params.to_dict().items() if k in SETTINGS_KEYS or k == LINK_TOKEN}
    if current != query:
        for name in current:
            del st.query_params[name]
        st.query_params.update(query)
    _remember(_WRITTEN, query)


def take_left_out() -> dict[str, str]:
    """Field → why the link's value for it was not used, said once under that field: escaped for Markdown, as the
    reason quotes what the link held (`?lr=![i](http://…)` must show as text, not fetch an image)."""
    return {name: escape_markdown(why) for name, why in st.session_state.pop(_LEFT_OUT, {}).items()}


def settings_link_query(config: TrainConfig, default_device: str) -> dict[str, str]:
    """The Train page's query for `config`, and a fresh token: what a "Use these settings" link carries."""
    return {**settings_query(config, base=_base(default_device)), LINK_TOKEN: secrets.token_hex(4)}


def use_these_settings_link(config: TrainConfig) -> None:
    """A link to the Train page with `config`'s settings filled in."""
    st.page_link(
        "pages/train.py",
        label="Use these settings",
        icon=":material/tune:",
        query_params=settings_link_query(config, default_device()),
        help="Open the Train page with this run's settings; change what you like, then Start.",
    )
