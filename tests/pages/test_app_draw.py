"""The Draw page through Streamlit's AppTest, with a real trained checkpoint and real MNIST digits.

The canvas is a custom component (an UnknownElement to AppTest); its value is set through Session
State as the browser would send it: the canvas's PNG as a data URL.
"""

from __future__ import annotations

import base64
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from helpers import open_app_page
from PIL import Image
from streamlit.testing.v1 import AppTest
from torchvision.datasets import MNIST

from resnet_mnist import RunStore
from resnet_mnist.runs.checkpoint import CheckpointError
from resnet_mnist.ui.model_choice import (
    MAX_UPLOAD_BYTES,
    default_run_id,
    describe_run,
    load_uploaded_checkpoint,
    usable_runs,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def model_runs(trained_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A runs folder holding a copy of the session's trained run, and the app pointed at it."""
    root = tmp_path / "app" / "runs"
    shutil.copytree(trained_run.path, root / trained_run.id)
    monkeypatch.setenv("RESNET_MNIST_RUNS", str(root))
    return root


@pytest.fixture
def open_page() -> Iterator:
    """Open the Draw page in a fresh session, after clearing cached resources (like a restart)."""

    def start(**state: object) -> AppTest:
        return open_app_page("pages/draw.py", **state)

    yield start
    st.cache_resource.clear()


def canvas_value(image: np.ndarray) -> dict:
    """What the canvas component sends back: its drawing, with the PNG as a data URL."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": url}, "backgroundFit": None}


def drawn(digit: np.ndarray) -> np.ndarray:
    """An MNIST digit as drawn on the page's 280×280 canvas: white strokes on black, opaque."""
    big = np.asarray(Image.fromarray(digit).resize((280, 280), Image.BILINEAR))
    return np.dstack([big, big, big, np.full_like(big, 255)])


def draw(at: AppTest, image: np.ndarray) -> AppTest:
    at.session_state[f"draw_canvas_{at.session_state['draw_canvas_version']}"] = canvas_value(image)
    at.run()
    assert not at.exception, at.exception
    return at


def predicted_digit(at: AppTest) -> int | None:
    for markdown in at.markdown:
        if "% sure" in markdown.value:
            return int(markdown.value.split("aria-label='predicted digit'>")[1][0])
    return None


@pytest.fixture(scope="module")
def test_digits(data_root: Path) -> tuple[np.ndarray, np.ndarray]:
    dataset = MNIST(str(data_root), train=False, download=False)
    return dataset.data[:10].numpy(), dataset.targets[:10].numpy()


def test_with_no_model_the_page_says_how_to_get_one(open_page) -> None:
    at = open_page()
    text = " ".join(info.value for info in at.info)
    assert "Train" in text and "python -m resnet_mnist train" in text and "upload" in text.lower()
    assert not at.get("bidi_component") and not at.error
    at.radio(key="draw_source").set_value("An uploaded checkpoint").run()
    assert not at.exception and len(at.file_uploader) == 1


def test_with_a_checkpoint_it_shows_the_canvas_picker_and_upload(open_page, model_runs: Path, trained_run) -> None:
    at = open_page()
    assert len(at.get("bidi_component")) == 1  # the canvas
    picker = at.selectbox(key="draw_run_select")
    assert picker.value == trained_run.id
    assert f"{100 * trained_run.final_accuracy:.2f}%" in picker.format_func(picker.value)
    assert "lr 0.05" in picker.format_func(picker.value)
    assert any("Draw a digit" in info.value for info in at.info)
    assert predicted_digit(at) is None and not at.get("plotly_chart")
    at.radio(key="draw_source").set_value("An uploaded checkpoint").run()
    assert len(at.file_uploader) == 1 and not at.exception


def test_drawn_digits_are_read_correctly_with_a_look_inside(open_page, model_runs: Path, test_digits) -> None:
    at = open_page()
    digits, labels = test_digits
    correct = 0
    for digit, label in zip(digits[:5], labels[:5], strict=True):
        draw(at, drawn(digit))
        correct += predicted_digit(at) == label
    assert correct == 5
    charts = at.get("plotly_chart")
    # preview, probabilities, the line-up's one run, saliency overlay, four feature-map grids
    assert len(charts) == 8
    assert [e.label for e in at.expander] == [
        "Line-up: several runs read this drawing",
        "Look inside: saliency and feature maps",
    ]
    at.radio(key="draw_saliency_method").set_value("integrated_gradients").run()
    assert not at.exception and len(at.get("plotly_chart")) == 8


def test_clear_empties_the_canvas_and_the_prediction(open_page, model_runs: Path, test_digits) -> None:
    at = open_page()
    draw(at, drawn(test_digits[0][0]))
    assert predicted_digit(at) is not None
    at.button[0].click().run()
    assert at.session_state["draw_canvas_version"] == 1
    assert predicted_digit(at) is None and any("Draw a digit" in info.value for info in at.info)


def test_a_blank_or_dotted_canvas_gets_no_prediction(open_page, model_runs: Path) -> None:
    at = open_page()
    draw(at, np.dstack([np.zeros((280, 280, 3), np.uint8), np.full((280, 280), 255, np.uint8)]))
    assert predicted_digit(at) is None
    dot = np.zeros((280, 280, 4), np.uint8)
    dot[..., 3] = 255
    ys, xs = np.mgrid[:280, :280]
    dot[np.hypot(ys - 140, xs - 140) < 11, :3] = 255
    draw(at, dot)
    assert predicted_digit(at) is None and any("Draw a digit" in info.value for info in at.info)


def test_an_ambiguous_drawing_is_flagged_not_sure(open_page, model_runs: Path, test_digits) -> None:
    """Two different digits overlaid: whatever the model answers, it must not claim certainty silently."""
    at = open_page()
    digits, _ = test_digits
    blend = np.maximum(digits[0], digits[1])  # a 7 over a 2
    draw(at, drawn(blend))
    markdown = next(m.value for m in at.markdown if "% sure" in m.value)
    sure = float(markdown.split("'font-size:1.4rem'>")[1].split("%")[0])
    if sure < 75:
        assert at.warning and "Not sure" in at.warning[0].value
    else:
        assert not at.warning


def test_the_run_picked_elsewhere_is_the_one_used(open_page, model_runs: Path, trained_run) -> None:
    older = "20000101-000000-aaaaaa"
    shutil.copytree(model_runs / trained_run.id, model_runs / older)
    at = open_page()
    assert at.selectbox(key="draw_run_select").value == trained_run.id  # newest by default
    at = open_page(draw_run_id=older)  # as the Runs page's "use in Draw" leaves it
    assert at.selectbox(key="draw_run_select").value == older
    at.selectbox(key="draw_run_select").set_value(trained_run.id).run()
    assert at.session_state["draw_run_id"] == trained_run.id


def test_uploads_good_and_bad(open_page, trained_run) -> None:
    at = open_page()
    at.radio(key="draw_source").set_value("An uploaded checkpoint").run()
    at.file_uploader[0].set_value(("broken.pt", b"PK\x03\x04 this is not a checkpoint", "application/octet-stream"))
    at.run()
    assert not at.exception and len(at.error) == 1
    assert "broken.pt" in at.error[0].value and "not a readable checkpoint" in at.error[0].value
    assert not at.get("bidi_component")
    at.file_uploader[0].set_value(("mine.pt", trained_run.checkpoint_path.read_bytes(), "application/octet-stream"))
    at.run()
    assert not at.error and "mine.pt" in at.success[0].value
    assert len(at.get("bidi_component")) == 1


def test_upload_handling_refuses_empty_huge_and_foreign_files(trained_run) -> None:
    with pytest.raises(CheckpointError, match="empty"):
        load_uploaded_checkpoint(b"", "empty.pt")
    with pytest.raises(CheckpointError, match="refused"):
        load_uploaded_checkpoint(b"\0" * (MAX_UPLOAD_BYTES + 1), "huge.pt")
    with pytest.raises(CheckpointError, match=r"notes\.pt"):
        load_uploaded_checkpoint(b"just some text", "notes.pt")
    checkpoint = load_uploaded_checkpoint(trained_run.checkpoint_path.read_bytes(), "good.pt")
    assert checkpoint.test_accuracy == trained_run.final_accuracy


def test_run_choice_defaults(model_runs: Path, trained_run) -> None:
    store = RunStore(model_runs)
    assert [r.id for r in usable_runs(store)] == [trained_run.id]
    assert default_run_id(store) == trained_run.id
    assert default_run_id(store, "no-such-run") == trained_run.id
    assert default_run_id(RunStore(model_runs.parent / "empty")) is None
    assert describe_run(trained_run).startswith(f"session model ({trained_run.id}) · ")
