"""Uploaded and saved checkpoints that carry code, are too big or are truncated: refused, nothing run or written."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
import torch
from helpers import (
    REPO,
    malicious_checkpoint,
    open_app,
)

from resnet_mnist.runs.checkpoint import CheckpointError
from resnet_mnist.ui.model_choice import load_uploaded_checkpoint


def test_a_code_carrying_upload_is_refused_and_its_code_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    data = malicious_checkpoint(marker)
    with pytest.raises(CheckpointError, match="could run code"):
        load_uploaded_checkpoint(data, "evil.pt")
    assert not marker.exists(), "loading the upload ran code from it"
    # The reference: an unrestricted load of the same bytes does run it.
    torch.load(io.BytesIO(data), weights_only=False)
    assert marker.exists()


def test_the_draw_page_refuses_a_code_carrying_upload_without_running_it(app_sessions: None, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    at = open_app("pages/draw.py")
    at.radio(key="draw_source").set_value("An uploaded checkpoint").run()
    at.file_uploader[0].set_value(("evil.pt", malicious_checkpoint(marker), "application/octet-stream"))
    at.run()
    assert not at.exception
    (error,) = at.error
    assert "evil.pt" in error.value and "refused" in error.value and "could run code" in error.value
    assert not marker.exists(), "the page ran code from the uploaded file"
    assert not at.get("bidi_component")  # no canvas: there is no model to draw for


def test_an_oversized_upload_is_refused_by_the_page(app_sessions: None) -> None:
    at = open_app("pages/draw.py")
    at.radio(key="draw_source").set_value("An uploaded checkpoint").run()
    at.file_uploader[0].set_value(("huge.pt", b"\0" * 20_000_001, "application/octet-stream"))
    at.run()
    assert not at.exception
    (error,) = at.error
    assert "huge.pt" in error.value and "refused" in error.value and "MB" in error.value


def test_the_draw_page_explains_a_saved_run_whose_checkpoint_is_truncated(
    app_sessions: None, draw_runs: Path, tiny_run: Path
) -> None:
    checkpoint = draw_runs / tiny_run.name / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:4000])
    at = open_app("pages/draw.py")
    assert not at.exception
    (error,) = at.error
    assert "could not be loaded" in error.value and "truncated or corrupt" in error.value
    assert not at.get("bidi_component")


def _files_under(*roots: Path) -> set[Path]:
    found = set()
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in (".venv", ".git", "node_modules")]
            found.update(Path(folder) / f for f in files)
    return found


def test_an_upload_is_read_in_memory_and_writes_no_file(app_sessions: None, draw_runs: Path, tiny_run: Path) -> None:
    name = f"upload-{os.getpid()}-{time.monotonic_ns()}.pt"
    watched = (draw_runs, REPO / "runs", Path.cwd())
    at = open_app("pages/draw.py")
    before = _files_under(*watched)
    at.radio(key="draw_source").set_value("An uploaded checkpoint").run()
    at.file_uploader[0].set_value((name, (tiny_run / "checkpoint.pt").read_bytes(), "application/octet-stream"))
    at.run()
    assert not at.exception and not at.error
    assert name in at.success[0].value and len(at.get("bidi_component")) == 1
    after = _files_under(*watched)
    written = {p for p in after - before if "__pycache__" not in p.parts and p.suffix != ".pyc"}
    assert not [p for p in written if name in p.name or p.suffix == ".pt"], written
