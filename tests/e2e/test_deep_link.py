"""A bookmark opened first on a freshly started server lands on that page, inside the app's navigation.

Streamlit treats a folder named pages/ beside app.py as its old file-based multipage mode until
app.py's st.navigation has run once; without pages/_deep_link_guard.py, the first visit to /runs ran
runs.py alone, with a sidebar listing "app, common, draw, home, runs, train" and a narrow layout.
This module has a server of its own, so its first request is the deep link.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_a_deep_link_opened_first_gets_the_apps_navigation(app, page, shot) -> None:
    app.open("runs")
    expect(page.get_by_role("heading", name="Runs", level=1)).to_be_visible()
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_role("link", name="Overview", exact=True)).to_be_visible()
    links = [text.strip().split("\n")[-1] for text in nav.get_by_role("link").all_inner_texts()]
    assert links == ["Overview", "Train", "Draw", "My digits", "Runs"], links
    assert app.exception_texts() == []
    shot("runs_by_deep_link")
