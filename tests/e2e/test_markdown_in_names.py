"""In a real browser, a run named with Markdown shows as typed: the Overview and the Runs page never
fetch the image its name points at, draw no colour, and show the name's characters as they are."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import record_run
from playwright.sync_api import expect

from resnet_mnist import RunStore

pytestmark = pytest.mark.e2e

NAME = "a` ![i](http://127.0.0.1:9/x.png) :red[x] `b"  # the backticks would end a code span around it


@pytest.fixture(scope="module")
def runs_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished run whose name is Markdown for an image on a local port and red text."""
    runs = tmp_path_factory.mktemp("e2e_literal") / "runs"
    record_run(RunStore(runs), name=NAME)
    return runs


@pytest.mark.parametrize("path", ["", "runs"])
def test_a_markdown_run_name_is_shown_as_typed_and_fetches_nothing(app, page, shot, path: str) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    app.open(path)
    if path == "runs":  # the delete confirmation puts the name in bold Markdown
        page.get_by_role("tab", name="Manage").click()
        app.wait_until_idle()
        page.get_by_role("button", name="Delete run…").click()
        app.wait_until_idle()
        expect(page.get_by_text(f"Delete run {NAME}", exact=False)).to_be_visible()
    else:
        expect(page.get_by_text(NAME, exact=False)).to_be_visible()
    shot(f"literal_name_{path or 'overview'}")
    assert not [url for url in requested if "127.0.0.1:9/" in url]
    assert page.locator('[data-testid="stMain"] img[src*="127.0.0.1:9"]').count() == 0
    coloured = '[data-testid="stMain"] [class*="ColoredText"], [data-testid="stMain"] span[style*="red"]'
    assert page.locator(coloured).count() == 0
    assert app.exception_texts() == []
