"""The Runs page's export control through AppTest, on a real small run: Export as ONNX checks the file on all of
MNIST's test digits, then offers it; a model that fails its check gets one error line and no download."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import onnxruntime as ort
import pytest
import streamlit as st
from helpers import open_app_page, the_page_worker, train_fp32_run
from streamlit.testing.v1 import AppTest

from resnet_mnist import RunStore, load_checkpoint, load_split
from resnet_mnist.runs.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def made_run(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    return train_fp32_run(tmp_path_factory.mktemp("page_export") / "runs", data_root).path


@pytest.fixture
def runs_root(made_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_root: Path):
    """A private copy of the run, the app pointed at it; the app's resources cleared after."""
    root = tmp_path / "app" / "runs"
    shutil.copytree(made_run, root / made_run.name)
    monkeypatch.setenv("RESNET_MNIST_RUNS", str(root))
    load_split(data_root, train=False)
    yield root
    the_page_worker().stop(timeout=60)
    st.cache_resource.clear()


def _export(run_id: str) -> AppTest:
    at = open_app_page("pages/runs.py", runs_tab="Manage", manage_run=run_id)
    assert not _has_download(at)
    at.button(key="export_onnx").click()
    at.run()
    assert not at.exception, at.exception
    return at


def _has_download(at: AppTest) -> bool:
    return any(getattr(b, "key", None) == "download_onnx" for b in at.get("download_button"))


def test_export_checks_the_file_then_offers_it_for_download(runs_root: Path) -> None:
    [run] = RunStore(runs_root).runs()
    at = _export(run.id)
    assert not at.error
    assert _has_download(at)
    [download] = [b for b in at.get("download_button") if getattr(b, "key", None) == "download_onnx"]
    assert download.proto.label.startswith("Download ONNX (")
    assert any("same answer on 10,000 of 10,000 MNIST test digits" in c.value for c in at.caption)
    exported = at.session_state["onnx_export"]["export"]
    session = ort.InferenceSession(exported.data)  # the bytes offered are a working model
    assert [i.name for i in session.get_inputs()] == ["image"]
    assert exported.check.agreed == exported.check.digits == 10_000

    at.run()  # a rerun keeps the checked file
    assert _has_download(at)
    stat = run.checkpoint_path.stat()
    os.utime(run.checkpoint_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    at.run()  # the checkpoint changed (the run trained on): the old file is no longer offered
    assert not _has_download(at)
    assert at.button(key="export_onnx")


def test_a_model_that_fails_its_check_gets_one_error_line_and_no_download(runs_root: Path) -> None:
    [run] = RunStore(runs_root).runs()
    checkpoint = load_checkpoint(run.checkpoint_path)
    huge = {key: value * 1e30 for key, value in checkpoint.state_dict.items()}  # finite weights; NaN outputs
    save_checkpoint(run.checkpoint_path, checkpoint.config, huge, epoch=checkpoint.epoch)
    at = _export(run.id)
    [error] = at.error
    assert error.value.startswith("Not exported: the exported model failed its check")
    assert "NaN or infinite" in error.value and "\n" not in error.value
    assert not _has_download(at)
