"""The app at a laptop's size (1,024×768 and 1,280×800), used by a person tuning and drawing.

The canvas is whole and reads a digit drawn at its right edge; Pause and Stop stay where they are
through a job's epoch ends and its pause; the Train, Draw, Sweep tab, My digits and Overview pages are
measured (nothing cut off or squeezed) at 1,024, 1,280 and 400 px wide, and photographed there for the
docs when RESNET_MNIST_DOC_SHOTS=1 (artifacts/e2e/<test>/, copied to docs/screenshots/ by hand; the
whole-page shots cost ~9 s of the test's ~44 s, so a plain run measures only).

The module's server starts with a runs folder holding one well-trained run (as test_draw.py's).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import ended_sweep, record_run
from PIL import Image
from playwright.sync_api import expect
from test_draw import MODEL_RUN_ENV, canvas_surface, drag_stroke, preview_ink, read_prediction
from test_train import check_train_subtitles, set_number, set_short_job, state_badge
from test_train import short_job_images as short_job_images  # a fixture, used by name
from torchvision.datasets import MNIST

from resnet_mnist import RunStore, TrainConfig
from resnet_mnist.handwriting.digits import save_drawing
from resnet_mnist.predict.preprocess import preprocess_image
from resnet_mnist.sweeps.outcome import SweepState, TrialView
from resnet_mnist.sweeps.spec import Axis, SweepSpec, new_sweep_id

pytestmark = pytest.mark.e2e

LAPTOPS = {"1024x768": (1024, 768), "1280x800": (1280, 800)}
CANVAS_SIZE = 280
JOB_TIMEOUT_S = 300.0
# A 7 whose right end is at 95% of the canvas's width: beyond what showed of it at 1,024 px before.
SEVEN = [(0.05, 0.05), (0.95, 0.05), (0.45, 1.0)]
RIGHT_EDGE = (0.55, 0.15, 0.42)  # left, top, size as fractions of the canvas
THREE = [(0.1, 0.1), (0.8, 0.1), (0.4, 0.45), (0.85, 0.7), (0.45, 1.0), (0.1, 0.85)]
SWEEP = SweepSpec(
    space={"lr": Axis(low=0.001, high=0.5, log=True), "momentum": Axis(values=(0.5, 0.9)),
           "precision": Axis(values=("fp32", "bf16"))},
    search="random", samples=6, scheduler="asha", name="lr and momentum",
)  # fmt: skip


@pytest.fixture(scope="module")
def runs_folder(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A runs folder with one run trained 1 epoch on all 60k images (or $RESNET_MNIST_E2E_MODEL_RUN's), and a
    finished sweep of six trials (weaker runs, without checkpoints) for the Sweep tab's form, table and chart."""
    reuse = os.environ.get(MODEL_RUN_ENV)
    source = Path(reuse) if reuse else request.getfixturevalue("trained_run").path
    runs = tmp_path_factory.mktemp("e2e_laptop") / "runs"
    runs.mkdir()
    shutil.copytree(source, runs / source.name)
    store = RunStore(runs)
    # Trials as a sweep leaves them: each run's settings are its trial's (the table and the curves agree).
    sweep_id = new_sweep_id(SWEEP.name)
    settings = [{"lr": 0.01 * (i + 1), "momentum": (0.5, 0.9)[i % 2]} for i in range(6)]
    trial_runs = [
        record_run(
            store,
            [0.80 + 0.01 * i, 0.84 + 0.01 * i],
            checkpoint=False,
            name=f"{SWEEP.name} · trial {i}",
            config=TrainConfig(epochs=2, device="cpu", **settings[i]),
            sweep=sweep_id,
        )
        for i in range(6)
    ]
    trials = tuple(
        TrialView(
            f"RunTrial_0000{i}",
            "TERMINATED",
            settings[i],
            run_id=r.id,
            epoch=r.epochs_done,
            test_accuracy=r.final_accuracy,
            best_accuracy=r.best_accuracy,
        )
        for i, r in enumerate(trial_runs)
    )
    ended_sweep(runs, SWEEP, SweepState.FINISHED, trials, sweep_id=sweep_id)
    return runs


@pytest.fixture(scope="module")
def server_env(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> dict[str, str]:
    """A handwriting folder of 14 MNIST test digits (three 0s, three 9s) for My digits."""
    folder = tmp_path_factory.mktemp("e2e_laptop") / "handwriting"
    mnist = MNIST(str(data_root), train=False, download=False)
    for index in range(14):
        big = np.asarray(Image.fromarray(mnist.data[index].numpy()).resize((280, 280), Image.BILINEAR))
        image = np.dstack([big, big, big, np.full_like(big, 255)])  # as the Draw page's canvas returns it
        save_drawing(folder, image, preprocess_image(image).pixels, int(mnist.targets[index]))
    return {"RESNET_MNIST_HANDWRITING": str(folder)}


def at_size(page, viewport: tuple[int, int]) -> None:
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})


def photograph(page, folder: Path, name: str, width: int, max_height: int = 2400) -> Path | None:
    """A screenshot of the whole page at `width` px wide (the window made as tall as the page, to `max_height`),
    for the docs: only with RESNET_MNIST_DOC_SHOTS=1."""
    if os.environ.get("RESNET_MNIST_DOC_SHOTS") != "1":
        return None
    height = page.evaluate(
        """() => Math.max(...['stMain', 'stAppViewContainer'].map(
            (id) => document.querySelector(`[data-testid="${id}"]`)?.scrollHeight || 0))"""
    )
    before = page.viewport_size
    page.set_viewport_size({"width": width, "height": max(min(height, max_height), 700)})
    page.wait_for_timeout(500)  # the layout, plotly's resize and the canvas settle
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size(before)
    return path


@pytest.mark.timeout(900)  # the first test may train the session's model
@pytest.mark.parametrize("laptop", list(LAPTOPS))
def test_the_whole_canvas_shows_and_a_digit_at_its_right_edge_is_read(app, page, shot, laptop: str) -> None:
    at_size(page, LAPTOPS[laptop])
    app.open("draw")
    canvas = canvas_surface(page)
    box = canvas.bounding_box()
    assert box["width"] == CANVAS_SIZE and box["height"] == CANVAS_SIZE
    assert box["x"] + box["width"] <= LAPTOPS[laptop][0]
    # Nothing of it is cut off: no box around it that clips what overflows it is narrower than it
    # (before, its column was, and showed 164 of its 280 px at 1,024 px wide).
    clipped_by = canvas.evaluate(
        """(canvas) => {
            const c = canvas.getBoundingClientRect();
            const clips = [];
            for (let node = canvas.parentElement; node; node = node.parentElement) {
                const style = getComputedStyle(node);
                if (style.overflowX === "visible" && style.overflowY === "visible") continue;
                const r = node.getBoundingClientRect();
                const inside = r.left <= c.left + 0.5 && r.right >= c.right - 0.5;
                if (!inside || r.top > c.top + 0.5 || r.bottom < c.bottom - 0.5)
                    clips.push(`${node.className} ${Math.round(r.left)}-${Math.round(r.right)}`);
            }
            return clips;
        }"""
    )
    assert clipped_by == [], f"the canvas ({box}) is cut off by {clipped_by}"
    # The answer sits beside the canvas, in view without scrolling.
    answer = page.locator('.st-key-draw_answer_block:not([data-stale="true"])').bounding_box()
    assert answer["x"] >= box["x"] + box["width"] and answer["y"] < box["y"] + box["height"], (answer, box)

    drag_stroke(page, canvas, SEVEN, RIGHT_EDGE, steps=12)
    expect(page.get_by_text(re.compile(r"% sure"))).to_be_visible()
    app.wait_until_idle()
    predicted, confidence = read_prediction(page)
    ink = preview_ink(page)
    shot(f"seven_at_the_right_edge_{laptop}", whole_page=False)
    assert predicted == 7, f"drew a 7 at the canvas's right edge, the page reads {predicted} ({confidence}% sure)"
    assert ink["inked"] >= 20
    assert app.exception_texts() == []


def control_boxes(page, app) -> dict[str, tuple[float, float, float, float]]:
    """Where Pause (or Resume) and Stop are now: x, y, width, height."""
    boxes = {}
    for name, label in (("pause", re.compile(r"(Pause|Resume)$")), ("stop", re.compile(r"Stop$"))):
        box = page.get_by_role("button", name=label).bounding_box()
        boxes[name] = tuple(round(box[k]) for k in ("x", "y", "width", "height"))
    return boxes


@pytest.mark.timeout(900)
def test_pause_and_stop_stay_put_through_epoch_ends_and_a_pause(app, page, shot, short_job_images: int) -> None:
    """One job watched at both laptop sizes in turn: the window is resized between looks, which moves nothing
    of Streamlit's (no rerun), so each size's boxes are compared only with that size's first."""
    at_size(page, LAPTOPS["1024x768"])
    app.open("train")
    set_short_job(page, epochs=3, train_images=max(short_job_images // 2, 800), test_images=2000)
    app.button("Start").click()
    expect(state_badge(page, "running")).to_be_visible(timeout=JOB_TIMEOUT_S * 1000)
    expect(page.get_by_text(re.compile(r"^Training epoch 1 of 3"))).to_be_visible(timeout=JOB_TIMEOUT_S * 1000)

    def look() -> dict[str, dict]:
        boxes = {}
        for laptop, size in LAPTOPS.items():
            at_size(page, size)
            boxes[laptop] = control_boxes(page, app)
        return boxes

    def shot_at_each_size(name: str) -> None:
        for laptop, size in LAPTOPS.items():
            at_size(page, size)
            shot(f"{name}_{laptop}", whole_page=False)

    first = look()
    seen_status: set[str] = set()
    positions: list[dict[str, dict]] = []
    paused = False
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline and not state_badge(page, "finished").count():
        status = page.locator(".st-key-train_status").inner_text()
        seen_status.add(re.sub(r"\d+", "N", status.splitlines()[-1]))
        positions.append(look())
        if not paused and "Training epoch 2" in status:  # pause once mid-job: Pause becomes Resume in place
            app.button("Pause").click()
            expect(state_badge(page, "paused")).to_be_visible()
            positions.append(look())
            shot_at_each_size("paused")
            app.button("Resume").click()
            paused = True
        time.sleep(0.1)
    expect(state_badge(page, "finished")).to_be_visible(timeout=30_000)
    assert paused and len(positions) > 10
    assert "Testing after epoch N…" in seen_status or any("Training epoch N of N" in s for s in seen_status)
    for laptop in LAPTOPS:
        moved = [p[laptop] for p in positions if p[laptop] != first[laptop]]
        assert not moved, (
            f"at {laptop} Pause/Stop moved from {first[laptop]}: {moved[:3]} (statuses seen: {sorted(seen_status)})"
        )
    assert app.exception_texts() == []
    shot_at_each_size("finished")


# What overflows its box, measured in the page: [selector, scrollWidth, clientWidth] of each such element.
_OVERFLOWING = """(selector) => [...document.querySelectorAll(selector)]
    .filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => [selector, e.scrollWidth, e.clientWidth])"""
_HEIGHT = "(selector) => document.querySelector(selector)?.getBoundingClientRect().height ?? -1"
# The right edges of the picked choices' names in a multiselect, and of the box that shows them.
_TAG_EDGES = """(key) => {
    const box = document.querySelector(`.st-key-${key} [data-testid="stMultiSelectTagsContainer"]`);
    const names = [...box.querySelectorAll("span")].filter((e) => e.children.length === 0 && e.textContent.trim());
    return names.map((e) => [e.textContent, Math.round(e.getBoundingClientRect().right),
                             Math.round(box.getBoundingClientRect().right)]);
}"""
_TOPS = "(selector) => [...document.querySelectorAll(selector)].map((e) => Math.round(e.getBoundingClientRect().top))"


def check_sweep_tab(page, width: int) -> None:
    """The form's labels on one line, a range and the picked precisions inside their boxes, a chart's plot tall."""
    expect(page.locator(".st-key-sweep_lr input")).to_have_value("0.001:0.5:log")  # the last sweep's, kept
    for key in ("sweep_lr", "sweep_momentum", "sweep_batch_size", "sweep_train_limit", "sweep_precision"):
        height = page.locator(f'.st-key-{key} [data-testid="stWidgetLabel"]').first.bounding_box()["height"]
        assert 0 < height < 30, f"{key}'s label takes {height} px at {width} px: broken over lines"
    assert page.evaluate(_OVERFLOWING, ".st-key-sweep_lr input") == []
    tags = page.evaluate(_TAG_EDGES, "sweep_precision")
    assert [t[0] for t in tags] == ["fp32", "bf16"] and all(right <= box for _, right, box in tags), tags
    plot = page.evaluate(_HEIGHT, ".st-key-sweep_curves .nsewdrag")
    assert plot >= 150, f"the sweep chart's plot is {plot} px high at {width} px (its legend took the rest)"


def check_my_digits(page, width: int) -> None:
    """Three 0s side by side even on a phone (one digit per row before), and the ten counts in a few rows."""
    page.locator('.st-key-digit_row_0 [class*="st-key-digit_cell_"] img').first.wait_for(state="visible")
    tops = page.evaluate(_TOPS, '.st-key-digit_row_0 [class*="st-key-digit_cell_"]')
    assert len(tops) == 3 and len(set(tops)) == 1, f"the three 0s are in rows {tops} at {width} px"
    counts = page.evaluate(_HEIGHT, ".st-key-digit_counts")
    assert 0 < counts <= 300, f"the ten digit counts take {counts} px at {width} px"


@pytest.mark.timeout(900)
def test_screenshots_of_train_and_draw_at_three_widths(app, page, shot) -> None:
    """Train, Draw (with a 3 drawn), the Sweep tab, My digits and the Overview at 1,024, 1,280 and 400 px:
    nothing cut off, squeezed or one per row (each measured in the page), for the docs."""
    folder = shot.folder
    for width in (1024, 1280, 400):
        at_size(page, (width, 800))
        app.open("train")
        expect(app.button("Start")).to_be_visible()
        check_train_subtitles(page)
        photograph(page, folder, f"train-{width}", width)
        app.open("draw")
        canvas = canvas_surface(page)
        drag_stroke(page, canvas, THREE, (0.15, 0.1, 0.75), steps=12)
        expect(page.get_by_text(re.compile(r"% sure"))).to_be_visible()
        app.wait_until_idle()
        save_row = page.evaluate(_HEIGHT, ".st-key-save_as_row")
        assert 0 < save_row <= 100, f"the ten save buttons take {save_row} px at {width} px"  # 560 px on a phone
        photograph(page, folder, f"draw-{width}", width)
        app.open("runs")
        page.get_by_role("tab", name="Sweep").click()
        app.wait_until_idle()
        page.locator(".st-key-sweep_curves .nsewdrag").first.wait_for(state="attached")
        check_sweep_tab(page, width)
        photograph(page, folder, f"sweep-{width}", width, max_height=5000)
        app.open("my_digits")
        check_my_digits(page, width)
        photograph(page, folder, f"my-digits-{width}", width, max_height=5000)
        app.open("")
        if width >= 1024:  # the layer table whole on a laptop (a phone scrolls it sideways)
            assert page.evaluate(_OVERFLOWING, ".st-key-model_layers .dvn-scroller") == []
        photograph(page, folder, f"home-{width}", width)
    check_empty_precision_box(page, app)
    assert app.exception_texts() == []


# An input's placeholder: its text, the width that text needs in the input's font, and the room inside the box.
_PLACEHOLDER_FIT = """(key) => {
    const input = document.querySelector(`.st-key-${key} input`);
    const style = getComputedStyle(input);
    const context = document.createElement("canvas").getContext("2d");
    context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return [input.placeholder, Math.ceil(context.measureText(input.placeholder).width), Math.floor(room)];
}"""


def check_empty_precision_box(page, app) -> None:
    """With no precision picked, its box says "not swept" whole (it read "not sw" at 1,024 px)."""
    app.open("runs")
    page.get_by_role("tab", name="Sweep").click()
    clear = page.locator('.st-key-sweep_precision [aria-label="Clear all"]')
    expect(page.locator(".st-key-sweep_precision input")).to_be_visible()
    if clear.count():  # the last sweep's precisions are picked: unpick them
        clear.click()
    expect(page.locator(".st-key-sweep_precision input")).to_have_attribute("placeholder", "not swept")
    for width in (1024, 1280, 400):
        at_size(page, (width, 800))
        text, needs, room = page.evaluate(_PLACEHOLDER_FIT, "sweep_precision")
        assert needs <= room, f"the empty precision box's {text!r} needs {needs} px, has {room} at {width} px"


@pytest.mark.timeout(900)
def test_settings_survive_a_reload(app, page, shot) -> None:
    """At the smaller laptop only: the URL's settings do not depend on the width, and what each width shows of
    the Train page is measured by test_screenshots_of_train_and_draw_at_three_widths."""
    laptop = "1024x768"
    at_size(page, LAPTOPS[laptop])
    app.open("train")
    set_number(page, "Epochs, typed", 3)
    set_number(page, "Learning rate", 0.05)
    page.get_by_text("Advanced", exact=True).click()
    set_number(page, "Training images", 2000)
    expect(page).to_have_url(re.compile(r"epochs=3"))
    expect(page).to_have_url(re.compile(r"train_limit=2000"))
    page.reload()
    app.wait_until_idle()
    expect(page.get_by_label("Epochs, typed", exact=True)).to_have_value("3")
    expect(page.get_by_label("Learning rate", exact=True)).to_have_value("0.05")
    page.get_by_text("Advanced", exact=True).click()
    expect(page.get_by_label("Training images", exact=True)).to_have_value("2000")
    expect(page.get_by_text(re.compile(r"Start trains with 3 epochs · lr 0\.05 .*2,000 train images"))).to_be_visible()
    shot(f"after_reload_{laptop}", whole_page=False)
    assert app.exception_texts() == []


@pytest.mark.timeout(900)
def test_the_sweep_form_survives_a_reload(app, page, shot) -> None:
    """What was typed into the Sweep form and not started rides in the URL, as the Train settings do (25.2)."""
    at_size(page, LAPTOPS["1280x800"])
    app.open("runs")
    page.get_by_role("tab", name="Sweep").click()
    for key, text in (("sweep_epochs", "3"), ("sweep_name", "after lunch")):
        box = page.locator(f".st-key-{key} input")
        box.fill(text)
        box.press("Enter")
        app.wait_until_idle()
    expect(page).to_have_url(re.compile(r"sweep_epochs=3"))
    expect(page).to_have_url(re.compile(r"sweep_name=after\+lunch|sweep_name=after%20lunch"))
    page.reload()
    app.wait_until_idle()
    page.get_by_role("tab", name="Sweep").click()  # a reload opens the page's first tab
    expect(page.locator(".st-key-sweep_epochs input")).to_have_value("3")
    expect(page.locator(".st-key-sweep_name input")).to_have_value("after lunch")
    shot("sweep_form_after_reload", whole_page=False)
    assert app.exception_texts() == []


@pytest.mark.timeout(900)
def test_use_these_settings_fills_the_train_page(app, page, shot) -> None:
    """The seeded run was trained with lr 0.05, momentum 0.9, 1 epoch: its link puts them into Train (at the
    smaller laptop, where the link has the least room; the settings it carries do not depend on the width)."""
    laptop = "1024x768"
    at_size(page, LAPTOPS[laptop])
    app.open("runs")
    page.get_by_role("link", name=re.compile("Use these settings")).first.click()
    expect(page.get_by_role("heading", name="Train", level=1)).to_be_visible()
    app.wait_until_idle()
    expect(page.get_by_label("Epochs, typed", exact=True)).to_have_value("1")
    expect(page.get_by_label("Learning rate", exact=True)).to_have_value("0.05")
    expect(page.get_by_label("Momentum, typed", exact=True)).to_have_value("0.9")
    expect(page).to_have_url(re.compile(r"lr=0\.05"))
    shot(f"filled_from_the_runs_page_{laptop}", whole_page=False)
    assert app.exception_texts() == []
