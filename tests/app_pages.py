"""Opening one of the app's pages under Streamlit's AppTest, as a fresh visitor after a restart."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[1]


def open_app_page(page: str, **state: object) -> AppTest:
    """Run app.py, switch to `page` (e.g. "pages/draw.py") with `state` in the session, and check it ran."""
    st.cache_resource.clear()
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.run()
    at.switch_page(page)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at
