"""A person draws a digit, keeps it with the label they meant, and finds it in My digits.

The module's server has two runs (the session's good model and a weak one trained on 300 images, so
the line-up has something to show) and its own, empty handwriting folder.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect
from test_draw import MODEL_RUN_ENV, canvas_surface, draw_digit, read_prediction

from resnet_mnist import RunStore, TrainConfig, run_training
from resnet_mnist.core.events import fan_out
from resnet_mnist.handwriting.digits import read_set

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def runs_folder(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, data_root: Path) -> Path:
    """The session's good run (or the finished run $RESNET_MNIST_E2E_MODEL_RUN names) and a weak one."""
    reuse = os.environ.get(MODEL_RUN_ENV)
    source = Path(reuse) if reuse else request.getfixturevalue("trained_run").path
    runs = tmp_path_factory.mktemp("e2e_handwriting") / "runs"
    shutil.copytree(source, runs / source.name)
    config = TrainConfig(epochs=1, lr=0.01, momentum=0.5, train_limit=300, test_limit=200, device="cpu")
    recorder = RunStore(runs).create(config, device="cpu", name="weak (300 images)")
    assert run_training(config, fan_out(recorder), data_root=str(data_root)).state.value == "finished"
    # Older than the good run, so the Draw page's default model (the newest finished run) is the good one.
    recorder.path.rename(runs / "20000101-000000-aaaaaa")
    return runs


@pytest.fixture(scope="module")
def handwriting_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e_handwriting") / "handwriting"


@pytest.fixture(scope="module")
def server_env(handwriting_folder: Path) -> dict[str, str]:
    return {"RESNET_MNIST_HANDWRITING": str(handwriting_folder)}


@pytest.mark.timeout(900)
def test_a_drawing_saved_with_a_corrected_label_is_in_the_gallery(app, page, shot, handwriting_folder: Path) -> None:
    app.open("draw")
    draw_digit(page, canvas_surface(page), 7)
    expect(page.get_by_text(re.compile(r"% sure"))).to_be_visible()
    app.wait_until_idle()
    predicted, _ = read_prediction(page)
    assert predicted == 7
    save_as = {d: app.element(f"save_as_{d}").get_by_role("button") for d in range(10)}
    expect(save_as[7]).to_have_attribute("data-testid", "stBaseButton-primary")  # the answer, pre-selected
    expect(save_as[1]).to_have_attribute("data-testid", "stBaseButton-secondary")
    expect(page.get_by_text("Line-up: several runs read this drawing")).to_be_visible()
    expect(app.element("lineup_runs")).to_be_visible()
    shot("drawn_with_save_buttons_and_line_up")

    save_as[1].click()  # the person meant a 1 (a slanted one)
    expect(page.get_by_text("Saved as a 1 in your digits.")).to_be_visible()
    hset = read_set(handwriting_folder)
    assert [d.label for d in hset.digits] == [1]
    shot("saved")

    page.get_by_role("link", name=re.compile("My digits")).first.click()
    app.wait_until_idle()
    expect(page.get_by_role("heading", name=re.compile(r"^1\s+\(1\)$"))).to_be_visible()
    cell = app.element("digit_cell_0")
    expect(cell.locator("img")).to_have_count(1)
    expect(cell.get_by_role("combobox")).to_have_value("1")  # its label picker says 1
    shot("gallery")
    assert app.exception_texts() == []
    assert app.console_errors() == []
