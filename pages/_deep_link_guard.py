"""The one place the app touches a private Streamlit attribute: a deep link's first run, routed through app.py.

Streamlit treats a folder named pages/ beside the main script as its old (v1) multipage mode
until the main script's st.navigation runs once; before that, a deep link such as /train opened
first on a fresh server runs the page file alone, with the wrong sidebar and layout. The folder
name is part of the layout users were promised, and Streamlit 1.67 offers no public switch for
this (no config option; st.navigation is what clears the flag, and it only runs from app.py), so
the first such run clears the flag itself, exactly as st.navigation does, and reruns through app.py.

tests/pages/test_deep_link_guard.py checks this against the pinned Streamlit (the attribute, what
st.navigation does with it, the pinned version); tests/e2e/test_deep_link.py checks the result.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

PINNED_STREAMLIT = "1.67.0"  # the version this guard was checked against; requirements.txt pins it


def leave_pages_folder_mode() -> None:
    """Turn off the v1 pages-folder mode once, as st.navigation would, and rerun through app.py."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
