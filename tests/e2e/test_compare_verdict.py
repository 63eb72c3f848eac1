"""In a real browser: the Compare tab says whether two seed groups differ beyond seed noise, and draws the
ticked groups as bands. Seeded with real small seed groups (lr 0.01 over seeds 1-3 and 4-6, lr 0.1 over 1-3)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import expect
from seed_groups import FAST, SLOW, train_group

from resnet_mnist import RunStore

pytestmark = pytest.mark.e2e

ROW_PX = 35  # st.dataframe's header and row height


@pytest.fixture(scope="module")
def runs_folder(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    runs = tmp_path_factory.mktemp("e2e_verdict") / "runs"
    store = RunStore(runs)
    for config, seeds, name in ((SLOW, (1, 2, 3), ""), (SLOW, (4, 5, 6), ""), (FAST, (1, 2, 3), "fast")):
        train_group(store, config, seeds, data_root, name=name)
        time.sleep(1.1)  # run ids sort by the second they start in: each group in seconds of its own
    return runs


def pick(page, label: str, option: str) -> None:
    """Open the select box labelled `label` and choose `option`, as a person does."""
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()


def tick_row(page, row: int) -> None:
    """Tick a row of the runs table by its check box (the grid is drawn on a canvas: click where it is)."""
    grid = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
    page.mouse.click(grid["x"] + 20, grid["y"] + ROW_PX * (row + 1) + ROW_PX / 2)


def test_the_verdict_tells_a_larger_lr_from_seed_noise_and_ticked_groups_show_as_bands(
    app, page, shot, streamlit_server
) -> None:
    app.open("runs")
    verdict = page.get_by_text("Beyond noise: B − A =", exact=False)
    expect(verdict).to_be_visible()  # A: the newest group (lr 0.1, "fast"), B: the next (lr 0.01, seeds 4-6)
    expect(page.get_by_text("Welch's t-test over seeds", exact=False)).to_be_visible()
    pick(page, "A", "lr=0.01 (seeds 1,2,3)")
    app.wait_until_idle()
    expect(page.get_by_text("Within noise: B − A =", exact=False)).to_be_visible()
    expect(page.get_by_text("Beyond noise", exact=False)).to_have_count(0)
    pick(page, "B", "fast (seeds 1,2,3)")
    app.wait_until_idle()
    expect(page.get_by_text("Beyond noise: B − A = +", exact=False)).to_be_visible()
    # Each tick's own chart is waited for: after the first tick the page already draws a chart (one band), and
    # a wait for "idle" is no barrier (a click's rerun has not begun when it returns), so a single read could
    # see the first tick's chart, or none while the second's rerun marks it stale.
    groups = ("fast (seeds 1,2,3)", "lr=0.01 (seeds 1,2,3)")  # one epoch: the mean, the band's two ends

    def bands() -> list[int | None]:
        return [app.plot_points("chart_accuracy", f"{group} · mean of 3") for group in groups]

    tick_row(page, 0)  # newest first: the runs of "fast" (rows 0-2), lr 0.01 over seeds 4-6 (3-5), over 1-3 (6-8)
    assert streamlit_server.wait_until(lambda: bands()[0] == 3, 60), f"after ticking row 0 the chart drew {bands()}"
    tick_row(page, 6)
    assert streamlit_server.wait_until(lambda: bands() == [3, 3], 60), f"after ticking row 6 the chart drew {bands()}"
    page.get_by_text("Is the difference real?").scroll_into_view_if_needed()
    shot("compare_verdict_with_bands")
    assert app.exception_texts() == [] and app.console_errors() == []
