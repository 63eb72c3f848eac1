"""My digits in a browser (issue 25.7): the digits the chosen run misreads are marked, Teach starts from the
★ best run, and a delete asks first.

The module's server has the session's good run and a newer, weak trial (stopped at 38.5%, untrained
weights), and a handwriting folder of 30 MNIST test digits drawn in another hand (thick, slanted, dark on
light), some of which the good run misreads.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
from helpers import record_run
from playwright.sync_api import expect
from test_draw import MODEL_RUN_ENV
from torchvision.datasets import MNIST

from resnet_mnist import RunState, RunStore
from resnet_mnist.handwriting.digits import read_set
from resnet_mnist.handwriting.scores import score_run
from testdata.styled_handwriting import make_styled_folder

pytestmark = pytest.mark.e2e

DIGITS = 30
DOCS_HEIGHT = 4500  # px: the whole page in one picture for the README


@pytest.fixture(scope="module")
def runs_folder(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """The session's good run (or the finished run $RESNET_MNIST_E2E_MODEL_RUN names) and a newer weak trial."""
    reuse = os.environ.get(MODEL_RUN_ENV)
    source = Path(reuse) if reuse else request.getfixturevalue("trained_run").path
    runs = tmp_path_factory.mktemp("e2e_gallery") / "runs"
    shutil.copytree(source, runs / source.name)
    time.sleep(1.1)  # run ids carry the creation time to the second
    record_run(RunStore(runs), [0.385], RunState.STOPPED, name="stopped trial")
    return runs


@pytest.fixture(scope="module")
def handwriting_folder(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    mnist = MNIST(str(data_root), train=False)
    root = tmp_path_factory.mktemp("e2e_gallery") / "handwriting"
    return make_styled_folder(root, mnist.data[-DIGITS:].numpy(), mnist.targets[-DIGITS:].numpy())


@pytest.fixture(scope="module")
def server_env(handwriting_folder: Path) -> dict[str, str]:
    return {"RESNET_MNIST_HANDWRITING": str(handwriting_folder)}


def photograph_whole(page, path: Path) -> None:
    """The whole page, however tall (up to DOCS_HEIGHT), in one picture."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    before = page.viewport_size
    page.set_viewport_size({"width": before["width"], "height": min(max(height, before["height"]), DOCS_HEIGHT)})
    page.wait_for_timeout(500)
    page.screenshot(path=str(path))
    page.set_viewport_size(before)


@pytest.mark.timeout(900)
def test_misread_digits_are_marked_and_teach_starts_from_the_best(
    app, page, shot, runs_folder: Path, handwriting_folder: Path
) -> None:
    store = RunStore(runs_folder)
    good = next(run for run in store.runs() if run.name != "stopped trial")
    score = score_run(good, read_set(handwriting_folder))
    misread = [m.predicted for m in score.misclassified]
    assert 0 < len(misread) < DIGITS, "the good run should misread some, not all, of the restyled digits"

    app.open("my_digits")
    expect(page.get_by_text(re.compile(r"^It reads"))).to_be_visible()
    start_from = app.element("teach_run")
    expect(start_from.get_by_role("combobox")).to_have_value(re.compile(rf"^★ {good.name} \({good.id}\) · "))
    badges = page.get_by_text(re.compile(r"^read as \d$")).locator("visible=true")
    expect(badges).to_have_count(len(misread))
    assert sorted(badges.all_inner_texts()) == sorted(f"read as {d}" for d in misread)
    expect(page.get_by_text(f"the {len(misread)} it misreads are marked in the gallery above")).to_be_visible()
    shot("gallery")
    photograph_whole(page, shot.folder / "my-digits.png")

    # The filter: only the misread ones.
    app.element("my_digits_filter").get_by_role("radio", name="misread", exact=True).click()
    app.wait_until_idle()
    expect(page.locator('[class*="st-key-digit_cell_"]:not([data-stale="true"]) img')).to_have_count(len(misread))
    shot("only_misread")
    assert app.exception_texts() == []
    assert app.console_errors() == []


@pytest.mark.timeout(900)
def test_a_delete_asks_first(app, page, shot, handwriting_folder: Path) -> None:
    before = [d.file for d in read_set(handwriting_folder).digits]
    app.open("my_digits")
    cell = app.element("digit_cell_0")
    cell.get_by_test_id("stPopoverButton").locator("visible=true").click()
    confirm = page.get_by_test_id("stPopoverBody").get_by_role("button", name=re.compile(r"Delete$"))
    expect(confirm).to_be_visible()
    expect(page.get_by_text("Delete this digit from the folder? This cannot be undone.")).to_be_visible()
    assert [d.file for d in read_set(handwriting_folder).digits] == before  # one click deletes nothing
    shot("asks", whole_page=False)  # a taller window would move the page under the open popover
    confirm.click()
    deadline = time.monotonic() + 60
    while len(read_set(handwriting_folder)) == len(before) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [d.file for d in read_set(handwriting_folder).digits] == before[1:]
    app.wait_until_idle()
    shot("deleted", whole_page=False)
    assert app.exception_texts() == []
