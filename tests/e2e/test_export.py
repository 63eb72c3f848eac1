"""In a real browser: Export as ONNX on the Runs page shows its progress, then offers the checked file, and the file
the browser downloads is the working model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from helpers import train_fp32_run
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def runs_folder(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """One small run trained for real (1,000 images, 1 epoch, fp32)."""
    runs = tmp_path_factory.mktemp("e2e_export") / "runs"
    train_fp32_run(runs, data_root, name="small fp32")
    return runs


def test_export_as_onnx_then_download_the_checked_file(app, page, shot, tmp_path: Path) -> None:
    app.open("runs")
    page.get_by_role("tab", name="Manage").click()
    app.wait_until_idle()
    app.button("Export as ONNX").click()
    download_button = page.get_by_role("button", name="Download ONNX", exact=False)
    expect(download_button).to_be_visible()
    expect(page.get_by_text("same answer on 10,000 of 10,000 MNIST test digits", exact=False)).to_be_visible()
    page.mouse.move(0, 0)  # away from the button, whose tooltip would cover the row
    page.wait_for_timeout(500)
    shot("runs_export_done", whole_page=False)
    with page.expect_download() as download:
        download_button.click()
    assert download.value.suggested_filename.startswith("resnet-mnist-") and download.value.suggested_filename.endswith(
        ".onnx"
    )
    path = tmp_path / "model.onnx"
    download.value.save_as(path)
    session = ort.InferenceSession(str(path))
    log_probs = session.run(None, {"image": np.zeros((3, 1, 28, 28), dtype=np.float32)})[0]
    assert log_probs.shape == (3, 10) and np.allclose(np.exp(log_probs).sum(axis=1), 1, atol=1e-5)
    assert app.exception_texts() == [] and app.console_errors() == []
