"""A person reads the doctor's verdict on a diverged run, then branches a finished run from the Runs page and
sees the branch's charts drawn with its parent's, in a real Chromium against a real server.

The module's server starts with two real small runs: a healthy one (2 epochs, lr 0.05, momentum 0.9) and,
older, a diverged one (lr 5, momentum 0.9). Screenshots go to artifacts/e2e/<test>/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from resnet_mnist import RunState, RunStore, TrainConfig, run_training
from resnet_mnist.core.data import load_split

pytestmark = pytest.mark.e2e

JOB_TIMEOUT_S = 300.0


@pytest.fixture(scope="module")
def runs_folder(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    runs = tmp_path_factory.mktemp("e2e_branch") / "runs"
    store = RunStore(runs)
    train = load_split(data_root, train=True, limit=1000)
    test = load_split(data_root, train=False, limit=500)
    for name, lr in (("too fast", 5.0), ("parent", 0.05)):  # the healthy one is the newest: the tab shows it first
        config = TrainConfig(epochs=2, lr=lr, momentum=0.9, train_limit=1000, test_limit=500, device="cpu")
        recorder = store.create(config, device="cpu", name=name)
        assert run_training(config, recorder, train_split=train, test_split=test).state is RunState.FINISHED
    return runs


def open_epochs_tab(app, page) -> None:
    app.open("runs")
    page.get_by_role("tab", name="Epochs & doctor").click()
    expect(app.element("lineage_loss_chart")).to_be_visible()


def choose(app, page, key: str, option: str) -> None:
    """Pick `option` (its label's start) in the select box with `key=key`, as a person does."""
    app.element(key).get_by_role("combobox").click()  # Streamlit's select box: a react-aria combo box
    page.get_by_role("option", name=re.compile(rf"^{re.escape(option)}")).first.click()
    app.wait_until_idle()


def test_the_doctor_says_a_diverged_run_diverged_and_offers_a_branch(app, page, shot) -> None:
    open_epochs_tab(app, page)
    choose(app, page, "lineage_run", "too fast")
    verdict = page.get_by_text(re.compile(r"Doctor: diverged\."))
    expect(verdict).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"Remedy: .*a third of the lr \(1\.67\)"))).to_be_visible()
    shot("doctor_on_a_diverged_run")
    assert not app.exception_texts()


def test_a_run_branched_from_the_runs_page_is_drawn_with_its_parent(app, page, shot, streamlit_server) -> None:
    open_epochs_tab(app, page)
    expect(page.get_by_text(re.compile(r"Doctor: healthy\."))).to_be_visible()
    choose(app, page, "lineage_epoch_" + _run_id(streamlit_server.runs_dir, "parent"), "epoch 1")
    page.get_by_role("link", name=re.compile(r"Branch from epoch 1$")).click()
    app.wait_until_idle()
    expect(
        page.get_by_text(re.compile(r"Start trains epochs 2 to 2 from epoch 1's weights and momentum"))
    ).to_be_visible()
    shot("train_form_filled_for_the_branch")
    app.button("Start").click()
    expect(page.get_by_text(re.compile(r"Finished: .* test accuracy after 2 epochs"))).to_be_visible(
        timeout=JOB_TIMEOUT_S * 1000
    )
    assert streamlit_server.wait_until(lambda: (app.plot_points("train_accuracy_chart", "parent ") or 0) == 1, 30)
    shot("branch_finished_with_its_parent_on_the_charts")
    branches = [r for r in RunStore(streamlit_server.runs_dir).runs() if r.branched_from]
    assert len(branches) == 1 and branches[0].branched_from == (_run_id(streamlit_server.runs_dir, "parent"), 1)
    open_epochs_tab(app, page)  # the newest run, the branch, comes first
    expect(page.get_by_text(re.compile(r"A branch of run parent from its epoch 1: drawn with it"))).to_be_visible()

    # The chart draws a moment after the script run ends (plotly loads lazily), and a rerun marks it stale for a
    # moment (None): wait for the parent's epoch 1 and the branch's epoch 2 together.
    def lineage() -> tuple[int | None, int | None]:
        chart = "lineage_accuracy_chart"
        return app.plot_points(chart, "parent "), app.plot_points(chart, "test accuracy")

    assert streamlit_server.wait_until(lambda: lineage() == (1, 1), 30), f"the Epochs tab's chart drew {lineage()}"
    shot("runs_page_branch_with_its_parent")
    assert not app.exception_texts()


def _run_id(runs: Path, name: str) -> str:
    return next(r.id for r in RunStore(runs).runs() if r.name == name)
