"""The deep-link guard leans on a private Streamlit attribute: check it against the Streamlit we pin.

If an upgrade moves or renames it, these fail before a user meets the wrong sidebar (the browser
test tests/e2e/test_deep_link.py checks the behaviour itself).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import streamlit
from streamlit.commands import navigation
from streamlit.runtime.pages_manager import PagesManager

from pages._deep_link_guard import PINNED_STREAMLIT

REPO = Path(__file__).resolve().parents[2]


def test_the_guard_was_checked_against_the_streamlit_that_is_pinned_and_installed() -> None:
    assert f"streamlit=={PINNED_STREAMLIT}" in (REPO / "requirements.txt").read_text().splitlines()
    assert streamlit.__version__ == PINNED_STREAMLIT


def test_the_private_flag_is_where_the_guard_expects_it_and_st_navigation_clears_it_the_same_way() -> None:
    assert "uses_pages_directory" in vars(PagesManager)  # a class attribute, shared by every session
    assert "PagesManager.uses_pages_directory = False" in inspect.getsource(navigation)
