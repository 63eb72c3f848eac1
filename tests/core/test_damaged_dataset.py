"""A truncated MNIST file fails the run with a clear reason, in the engine and on the Train page."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import streamlit as st
from helpers import (
    SHORT,
    WAIT,
    open_app,
    rerun_until,
    set_quick_run,
)

from resnet_mnist import RunState, RunStore, TrainingWorker


@pytest.fixture
def truncated_test_images(data_root: Path, tmp_path: Path) -> Path:
    """A data folder whose training files are intact and whose test images file is cut in half."""
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    source = data_root / "MNIST" / "raw"
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (raw / name).symlink_to(source / name)
    shutil.copy(source / "t10k-labels-idx1-ubyte", raw / "t10k-labels-idx1-ubyte")
    images = (source / "t10k-images-idx3-ubyte").read_bytes()
    (raw / "t10k-images-idx3-ubyte").write_bytes(images[: len(images) // 2])
    return tmp_path / "data"


def test_a_truncated_mnist_file_fails_the_run_with_a_clear_reason(truncated_test_images: Path, runs_dir: Path) -> None:
    worker = TrainingWorker(RunStore(runs_dir), data_root=truncated_test_images)
    worker.start(SHORT)
    assert worker.join(WAIT)
    snap = worker.snapshot()
    assert snap.state is RunState.FAILED
    assert str(truncated_test_images / "MNIST" / "raw") in snap.reason
    assert "truncated or corrupt" in snap.reason and "Traceback" not in snap.reason
    assert worker.store.get(snap.run_id).state is RunState.FAILED


def test_the_train_page_shows_a_truncated_mnist_file_as_a_failed_run(
    truncated_test_images: Path, monkeypatch: pytest.MonkeyPatch, app_sessions: None
) -> None:
    monkeypatch.setenv("RESNET_MNIST_DATA", str(truncated_test_images))
    st.cache_resource.clear()  # the worker reads its data folder from the environment when built
    at = open_app("pages/train.py")
    set_quick_run(at, epochs=1, test_limit=300)
    at.button(key="train_start").click().run()
    snap = rerun_until(at, lambda s: s.state.is_final)
    assert snap.state is RunState.FAILED
    errors = " ".join(e.value for e in at.error)
    assert "Failed:" in errors and "truncated or corrupt" in errors and "Traceback" not in errors
    assert not at.exception
