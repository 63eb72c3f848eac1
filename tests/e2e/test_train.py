"""A person opens the app, starts a short training job on the Train page and watches it learn.

The tests share one server (and its one training worker) and run in file order: open the app,
train a short job to the end, then start another and reload the browser while it runs.

How long a job of N images takes differs a hundredfold between an idle machine and a busy one,
and the chart refreshes once a second: the job is sized from this machine's measured speed so
that it lasts several refreshes and still ends soon.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from resnet_mnist import TrainConfig, run_training
from resnet_mnist.core.data import MNIST_TRAIN_SIZE
from resnet_mnist.core.events import BatchLogged

pytestmark = pytest.mark.e2e

LOSS_CHART = "train_loss_chart"  # the key= of the Train page's loss chart
TRAINING_LOSS = "training loss"  # its per-batch trace
JOB_TIMEOUT_S = 300.0
BATCH_SIZE = 8  # small batches: many steps (chart points) out of few images
JOB_SECONDS = 8.0  # aim for a job this long on this machine: several chart refreshes
MIN_STEPS, MAX_STEPS = 60, 2000


@pytest.fixture(scope="module")
def short_job_images(data_root: Path) -> int:
    """Training images for a job of about JOB_SECONDS here, from a few timed steps of the real engine."""
    times: list[float] = []

    def on_event(event: object) -> None:
        if isinstance(event, BatchLogged):
            times.append(time.monotonic())

    config = TrainConfig(epochs=1, batch_size=BATCH_SIZE, train_limit=24 * BATCH_SIZE, test_limit=10, log_interval=1)
    run_training(config, on_event, data_root=str(data_root))
    steps_per_second = (len(times) - 4) / (times[-1] - times[3])  # the first steps warm up
    steps = round(min(max(JOB_SECONDS * steps_per_second, MIN_STEPS), MAX_STEPS))
    return steps * BATCH_SIZE


def set_number(page, label: str, value: float) -> None:
    """Type into a number input the way a person does: select what is there, type, press Enter."""
    field = page.get_by_label(label, exact=True)
    field.click()
    field.press("ControlOrMeta+a")
    field.press_sequentially(str(value))
    field.press("Enter")
    expect(field).to_have_value(str(value))


def set_slider(page, label: str, steps_from_start: int, value: str) -> None:
    """Move a slider with the keyboard: Home to its first stop, then right arrow `steps_from_start` times."""
    slider = page.get_by_role("slider", name=label)
    slider.focus()
    slider.press("Home")
    for _ in range(steps_from_start):
        slider.press("ArrowRight")
    expect(slider).to_have_value(value)


def set_short_job(page, *, epochs: int, train_images: int, test_images: int, lr: float | None = None) -> None:
    """Fill the Train page's widgets for a short job: batches of 8 images, a chart point for each."""
    set_slider(page, "Epochs", epochs - 1, str(epochs))  # 1, 2, …, 100
    set_slider(page, "Batch size", 0, "0")  # 8, 16, 32, …: the select slider's value is the option's index
    if lr is not None:
        set_number(page, "Learning rate", lr)
    page.get_by_text("Advanced", exact=True).click()
    set_number(page, "Training images", train_images)
    set_number(page, "Test images", test_images)
    set_number(page, "Log interval (batches)", 1)


def wait_for_points(app, at_least: int, timeout_s: float = JOB_TIMEOUT_S) -> int:
    """Wait until the loss chart draws at least `at_least` training-loss points; return how many."""
    deadline = time.monotonic() + timeout_s
    points = None
    while time.monotonic() < deadline:
        points = app.plot_points(LOSS_CHART, TRAINING_LOSS)
        if points is not None and points >= at_least:
            return points
        time.sleep(0.25)
    raise AssertionError(f"the loss chart shows {points} points after {timeout_s:.0f} s, expected at least {at_least}")


def state_badge(page, state: str):
    """The job's state badge ("running", "finished", …), shown after an icon."""
    return page.locator(".stMarkdownBadge").filter(has_text=re.compile(rf"{state}$"))


def shown_run_id(page) -> str:
    """The id of the job's run, from the status line beside the state badge ("running · run <id>")."""
    line = page.get_by_test_id("stMarkdownContainer").filter(has=page.locator(".stMarkdownBadge")).first
    match = re.search(r"run\s+(\S+)", line.inner_text())
    assert match, f"no run id in the status line {line.inner_text()!r}"
    return match.group(1)


def test_home_and_train_pages_render(app, page, shot) -> None:
    app.open()
    expect(page.get_by_role("heading", level=1).first).to_be_visible()
    assert app.exception_texts() == []
    shot("home")

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Train", exact=True).click()
    expect(page.get_by_role("heading", name="Train", level=1)).to_be_visible()
    app.wait_until_idle()
    expect(app.button("Start")).to_be_enabled()
    expect(state_badge(page, "idle")).to_be_visible()
    assert app.exception_texts() == []
    shot("train")
    assert app.console_errors() == []


def check_train_subtitles(page) -> None:
    """The charts' subtitles end inside their charts (one long line was cut at every width)."""
    for chart in ("train_loss_chart", "train_accuracy_chart"):
        page.locator(f".st-key-{chart} .gtitle-subtitle").first.wait_for(state="attached")  # plotly draws later
        edges = page.evaluate(
            """(key) => { const chart = document.querySelector(`.st-key-${key}`).getBoundingClientRect();
                return [...document.querySelectorAll(`.st-key-${key} .gtitle-subtitle`)].map(
                    (t) => [Math.round(t.getBoundingClientRect().right), Math.round(chart.right)]); }""",
            chart,
        )
        assert edges and all(right <= chart_right for right, chart_right in edges), (chart, edges)
        # and above the plot (a third line, centred in the margin, ran into the loss chart's top tick)
        bottom, plot_top = page.evaluate(
            """(key) => [Math.max(...[...document.querySelectorAll(`.st-key-${key} .gtitle-subtitle`)].map(
                    (t) => t.getBoundingClientRect().bottom)),
                document.querySelector(`.st-key-${key} .nsewdrag`).getBoundingClientRect().top]""",
            chart,
        )
        assert bottom <= plot_top, f"{chart}'s subtitle ends at {bottom:.0f} px, below the plot's top at {plot_top:.0f}"


@pytest.mark.timeout(600)
def test_short_job_shows_live_loss_then_accuracy(app, page, shot, short_job_images: int) -> None:
    app.open("train")
    # lr 0.05 learns faster than the seed's 0.01 in the few hundred steps of a short job.
    set_short_job(page, epochs=1, train_images=short_job_images, test_images=1000, lr=0.05)
    shot("settings")

    app.button("Start").click()
    expect(state_badge(page, "running")).to_be_visible(timeout=JOB_TIMEOUT_S * 1000)  # after loading data
    # The job runs with what was entered: the chart's subtitle names its settings.
    for setting in ("lr 0.05", "batch 8", f"{short_job_images:,} train images"):
        expect(app.element(LOSS_CHART)).to_contain_text(setting)

    # Sample the chart a few times a second while the job runs; it refreshes about once a second.
    seen: list[int] = []
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline and state_badge(page, "running").count():
        points = app.plot_points(LOSS_CHART, TRAINING_LOSS)
        if points and (not seen or points != seen[-1]):
            seen.append(points)
            if len(seen) in (1, 3):
                shot(f"running_{points}_points")
        time.sleep(0.2)
    assert len(seen) >= 3, f"the loss chart should gain points in two successive refreshes, saw counts {seen}"
    assert seen == sorted(seen), f"the loss chart lost points while running: {seen}"

    finished = page.get_by_text(re.compile(r"Finished: \d+\.\d+% test accuracy"))
    expect(finished).to_be_visible(timeout=JOB_TIMEOUT_S * 1000)
    expect(state_badge(page, "finished")).to_be_visible()
    accuracy = float(re.search(r"(\d+\.\d+)%", finished.inner_text()).group(1))
    steps = short_job_images // BATCH_SIZE
    assert 20.0 < accuracy <= 100.0, f"{steps} steps should learn well beyond chance (10%), got {accuracy}%"
    wait_for_points(app, seen[-1], timeout_s=10)
    assert app.exception_texts() == []
    check_train_subtitles(page)  # three lines of it after a run: all above the plot
    shot("finished")


@pytest.mark.timeout(600)
def test_reload_during_a_job_shows_it_still_running(app, page, shot, short_job_images: int) -> None:
    app.open("train")
    # Several times the short job, so it still runs after the reload; the test stops it.
    set_short_job(page, epochs=5, train_images=min(4 * short_job_images, MNIST_TRAIN_SIZE), test_images=1000)
    app.button("Start").click()
    expect(state_badge(page, "running")).to_be_visible(timeout=JOB_TIMEOUT_S * 1000)  # after loading data
    before = wait_for_points(app, 3)
    run_id = shown_run_id(page)
    shot("before_reload")

    page.reload()
    app.wait_until_idle()
    expect(state_badge(page, "running")).to_be_visible()
    expect(app.button("Stop")).to_be_enabled()
    assert shown_run_id(page) == run_id, "after the reload the page shows another job"
    wait_for_points(app, before)  # the chart is drawn again from the job's history, and goes on
    assert app.exception_texts() == []
    shot("after_reload")

    # End the job so the server is idle for whoever comes next.
    app.button("Stop").click()
    expect(state_badge(page, "stopped")).to_be_visible(timeout=30_000)
    shot("stopped")
