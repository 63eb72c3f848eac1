"""Reliability and security (issue 8): bad input, faults and abuse, each a test that can fail.

The cases other test files already prove are listed in docs/reliability.md; this file fills the
gaps: divergence and out-of-memory through the worker and the page, pause/stop at any moment,
two sessions on one job, a code-carrying upload, a truncated dataset in the app, a filled canvas,
the server's listening address and XSRF protection, and run ids that try to leave the runs folder.
"""

from __future__ import annotations

import base64
import gc
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
from helpers import WAIT, badge, rerun_until, set_quick_run, the_page_worker, wait_for
from PIL import Image
from streamlit.testing.v1 import AppTest
from torch.nn.modules.module import register_module_forward_hook

from resnet_mnist import RunState, RunStore, TrainConfig, TrainingWorker, load_checkpoint, load_split, run_training
from resnet_mnist.checkpoint import CheckpointError
from resnet_mnist.data import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE
from resnet_mnist.engine import TrainingControl, build_model
from resnet_mnist.events import EpochCompleted, Event, fan_out
from resnet_mnist.model_choice import load_uploaded_checkpoint
from resnet_mnist.runs import RunNotFoundError

REPO = Path(__file__).resolve().parents[1]
# Small slices of the real MNIST: a job is a second or two.
SHORT = TrainConfig(epochs=2, train_limit=1500, test_limit=300, log_interval=5, device="cpu")
LONG = TrainConfig(epochs=20, train_limit=2000, test_limit=300, log_interval=1, device="cpu")


# -- helpers ----------------------------------------------------------------------------------


def assert_run_folder_complete(path: Path) -> dict:
    """run.json and metrics.json parse, the checkpoint (if any) loads, no temp file is left over."""
    info = json.loads((path / "run.json").read_text())
    metrics = json.loads((path / "metrics.json").read_text())
    assert set(metrics) == {"batches", "epochs", "hparam_changes"}
    assert len(metrics["epochs"]) == info["epochs_done"]
    if (path / "checkpoint.pt").exists():
        checkpoint = load_checkpoint(path / "checkpoint.pt")
        assert all(torch.isfinite(t).all() for t in checkpoint.state_dict.values())
    leftovers = [p.name for p in path.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".")]
    assert leftovers == [], f"temporary files left in {path}: {leftovers}"
    return info


def open_app(page: str) -> AppTest:
    """A new browser session on `page` (the cached worker and run store are kept, as on a server)."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


class _CodeCarrier:
    """Unpickling this creates a marker file: the proof that a checkpoint ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def malicious_checkpoint(marker: Path) -> bytes:
    """A checkpoint of the right network that also carries code to run on unpickling."""
    payload = {**build_model(1).state_dict(), "note": _CodeCarrier(marker)}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def canvas_value(image: np.ndarray) -> dict:
    """What the canvas component sends back: its drawing, with the PNG as a data URL."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": url}, "backgroundFit": None}


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def app_sessions(data_root: Path) -> Iterator[None]:
    """A fresh app 'server' (cached resources cleared) for tests that open pages; its job stopped after."""
    load_split(data_root, train=True)
    load_split(data_root, train=False)
    st.cache_resource.clear()
    yield
    from pages._common import get_worker

    assert get_worker().stop(timeout=30)
    st.cache_resource.clear()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """A run folder of a model trained on 1,000 images (enough for the Draw page to load)."""
    store = RunStore(tmp_path_factory.mktemp("tiny") / "runs")
    config = TrainConfig(epochs=1, train_limit=1000, test_limit=200, device="cpu")
    recorder = store.create(config, device="cpu", name="tiny")
    assert run_training(config, recorder, data_root=str(data_root)).state is RunState.FINISHED
    return recorder.path


@pytest.fixture
def draw_runs(tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app's runs folder holding a copy of the tiny run."""
    root = tmp_path / "app" / "runs"
    shutil.copytree(tiny_run, root / tiny_run.name)
    monkeypatch.setenv("RESNET_MNIST_RUNS", str(root))
    return root


# -- hyperparameters --------------------------------------------------------------------------

# (widget key, bad value, the field's label on the page, words of the message). The page's other
# controls cannot hold a bad value at all: the sliders are bounded (epochs and momentum can be typed
# past them, in the box beside), batch size is a list of choices, and the number inputs for whole
# numbers take no fractions.
BAD_WIDGET_VALUES = [
    ("train_epochs", 0, "Epochs", "at least 1"),
    ("train_epochs", 501, "Epochs", "at most 500"),
    ("train_momentum", 1.0, "Momentum", "in [0, 1)"),
    ("train_lr", -0.01, "Learning rate", "greater than 0"),
    ("train_lr", 0.0, "Learning rate", "greater than 0"),
    ("train_seed", -1, "Seed", "at least 0"),
    ("train_test_batch_size", 0, "Test batch size", "at least 1"),
    ("train_train_limit", 0, "Training images", "at least 1"),
    ("train_train_limit", MNIST_TRAIN_SIZE + 1, "Training images", f"at most {MNIST_TRAIN_SIZE}"),
    ("train_test_limit", MNIST_TEST_SIZE + 1, "Test images", f"at most {MNIST_TEST_SIZE}"),
    ("train_log_interval", 0, "Log interval", "at least 1"),
    ("train_train_limit", 10, "Batch size", "at most 10"),  # a batch of 64 beyond a 10-image dataset
]


def test_every_bad_value_on_the_train_page_is_refused_naming_its_field_and_nothing_starts(
    app_sessions: None,
) -> None:
    at = open_app("pages/train.py")
    for key, value, label, words in BAD_WIDGET_VALUES:
        at.button(key="train_reset").click().run()
        at.number_input(key=key).set_value(value).run()
        at.button(key="train_start").click().run()
        assert not at.exception, at.exception
        errors = [e.value for e in at.main.error]
        assert errors == [f"Not started: fix {label} first (marked in the sidebar)."], f"{key}={value}: {errors}"
        field_errors = [e.value for e in at.sidebar.error]  # on the field itself (tests/test_app_settings.py)
        assert any(words in e and label not in e for e in field_errors), f"{key}={value}: {field_errors}"
        assert not the_page_worker().is_alive() and the_page_worker().snapshot().state is RunState.IDLE
    assert the_page_worker().store.runs() == []


# (arguments, the flag the one-line message names); the CLI test file covers lr 0/abc/nan,
# momentum 1, epochs 0/abc and a batch larger than the training slice.
BAD_CLI_VALUES = [
    (["--lr", "-1"], "--lr"),
    (["--lr", "inf"], "--lr"),
    (["--momentum", "-0.1"], "--momentum"),
    (["--momentum", "1.5"], "--momentum"),
    (["--epochs", "-3"], "--epochs"),
    (["--batch-size", "0"], "--batch-size"),
    (["--batch-size", "60001"], "--batch-size"),
    (["--test-batch-size", "0"], "--test-batch-size"),
    (["--seed", "-1"], "--seed"),
    (["--seed", "1.5"], "--seed"),
    (["--seed", "one"], "--seed"),
]


@pytest.mark.parametrize(("arguments", "field"), BAD_CLI_VALUES, ids=[" ".join(a) for a, _ in BAD_CLI_VALUES])
def test_every_bad_value_on_the_command_line_is_refused_naming_its_field(
    arguments: list[str], field: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from resnet_mnist.cli import main

    runs = tmp_path / "runs"
    try:
        code = main(["train", *arguments, "--runs-dir", str(runs)])
    except SystemExit as exit_:  # argparse refuses what is not a number at all
        code = exit_.code
    out, err = capsys.readouterr()
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert field in lines[0] and not out
    assert not runs.exists(), "a run folder was created for a refused command"


# -- divergence -------------------------------------------------------------------------------


def test_divergence_mid_run_fails_within_a_logged_interval_and_keeps_the_last_good_checkpoint(
    worker: TrainingWorker,
) -> None:
    config = TrainConfig(epochs=6, train_limit=1500, test_limit=300, log_interval=3, device="cpu")
    worker.start(config)
    wait_for(worker, lambda s: len(s.epochs) >= 1)
    worker.set_hyperparams(lr=10.0, momentum=0.99)
    snap = wait_for(worker, lambda s: s.state.is_final)
    assert snap.state is RunState.FAILED, f"{snap.state}: lr 10 / momentum 0.99 did not diverge"
    assert "diverged" in snap.reason and "learning rate" in snap.reason
    (change,) = snap.hparam_changes
    failed_at = int(re.search(r"at step (\d+)", snap.reason).group(1))
    # Noticed at the first logged batch with a non-finite loss: no later than one interval after the last good one.
    assert failed_at - snap.batches[-1].step <= config.log_interval
    assert failed_at >= change.step
    assert all(np.isfinite(b.loss) for b in snap.batches)

    # The run is on disk as failed, with the checkpoint of its last completed epoch, which loads.
    info = worker.store.get(snap.run_id)
    assert info.state is RunState.FAILED and info.reason == snap.reason
    assert info.epochs_done == len(snap.epochs) >= 1
    checkpoint = load_checkpoint(info.checkpoint_path)
    assert checkpoint.epoch == snap.epochs[-1].epoch
    assert all(torch.isfinite(t).all() for t in checkpoint.state_dict.values())
    assert_run_folder_complete(info.path)

    # The next run starts and finishes normally.
    worker.start(SHORT)
    assert worker.join(WAIT)
    assert worker.snapshot().state is RunState.FINISHED
    assert worker.snapshot().reason is None


def test_a_diverging_run_started_from_the_page_fails_with_the_reason_and_the_page_stays_usable(
    app_sessions: None,
) -> None:
    at = open_app("pages/train.py")
    set_quick_run(at, epochs=3, test_limit=300)
    at.number_input(key="train_lr").set_value(10.0)
    at.number_input(key="train_momentum").set_value(0.99).run()
    at.button(key="train_start").click().run()
    assert not at.error, [e.value for e in at.error]
    snap = rerun_until(at, lambda s: s.state.is_final)
    assert snap.state is RunState.FAILED
    errors = " ".join(e.value for e in at.error)
    assert errors.startswith(f"Failed at step {snap.step} ") and "diverged" in errors and "learning rate" in errors
    assert "failed" in badge(at)

    at.button(key="train_reset").click().run()
    set_quick_run(at, epochs=1, test_limit=300)
    at.button(key="train_start").click().run()
    assert not at.error and not at.warning
    snap = rerun_until(at, lambda s: s.state.is_final)
    assert snap.state is RunState.FINISHED, snap.reason
    assert "finished" in badge(at) and at.success


# -- stop, pause, resume ----------------------------------------------------------------------


def test_a_paused_job_stops_within_a_second_and_keeps_its_weights(worker: TrainingWorker) -> None:
    worker.start(LONG)
    wait_for(worker, lambda s: len(s.batches) >= 2)
    worker.pause()
    wait_for(worker, lambda s: s.state is RunState.PAUSED)
    asked = time.monotonic()
    assert worker.stop(timeout=5.0)
    took = time.monotonic() - asked
    assert took < 1.0, f"stopping a paused job took {took:.2f} s"
    snap = worker.snapshot()
    assert snap.state is RunState.STOPPED
    info = assert_run_folder_complete(snap.run_dir)
    assert info["state"] == "stopped"
    assert load_checkpoint(snap.run_dir / "checkpoint.pt").state_dict


def test_pause_during_the_test_pass_holds_before_the_next_batch_and_resume_completes(worker: TrainingWorker) -> None:
    # A long test pass (5,000 images) after a short epoch, so the pause lands while testing.
    config = TrainConfig(epochs=2, train_limit=640, test_limit=5000, log_interval=1, device="cpu")
    worker.start(config)
    wait_for(worker, lambda s: s.evaluating)
    worker.pause()
    paused = wait_for(worker, lambda s: s.state is RunState.PAUSED)
    # The test pass in progress finished and was recorded; training holds at the next epoch's first batch.
    assert [e.epoch for e in paused.epochs] == [1] and not paused.evaluating
    time.sleep(0.3)
    assert worker.snapshot().batches == paused.batches
    worker.resume()
    assert worker.join(WAIT)
    snap = worker.snapshot()
    assert snap.state is RunState.FINISHED
    assert [e.epoch for e in snap.epochs] == [1, 2]
    assert_run_folder_complete(snap.run_dir)


def test_stop_during_the_test_pass_ends_the_thread_within_a_second(worker: TrainingWorker) -> None:
    config = TrainConfig(epochs=2, train_limit=640, test_limit=MNIST_TEST_SIZE, log_interval=1, device="cpu")
    worker.start(config)
    wait_for(worker, lambda s: s.evaluating)
    asked = time.monotonic()
    assert worker.stop(timeout=5.0)
    took = time.monotonic() - asked
    assert took < 1.0, f"stopping during the test pass took {took:.2f} s"
    snap = worker.snapshot()
    assert snap.state is RunState.STOPPED and snap.epochs == ()
    assert assert_run_folder_complete(snap.run_dir)["state"] == "stopped"


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.4, 0.9, 1.6])
def test_stop_at_any_moment_leaves_a_complete_readable_run_folder(worker: TrainingWorker, delay: float) -> None:
    # 5 batches an epoch and a small test pass: epoch ends (checkpoint writes) come several times a second.
    config = TrainConfig(epochs=50, train_limit=320, test_limit=200, log_interval=1, device="cpu")
    worker.start(config)
    wait_for(worker, lambda s: s.run_dir is not None)
    time.sleep(delay)
    asked = time.monotonic()
    assert worker.stop(timeout=5.0)
    assert time.monotonic() - asked < 1.0
    snap = worker.snapshot()
    assert snap.state is RunState.STOPPED
    info = assert_run_folder_complete(snap.run_dir)
    assert info["state"] == "stopped" and info["epochs_done"] == len(snap.epochs)
    assert load_checkpoint(snap.run_dir / "checkpoint.pt").epoch == len(snap.epochs)
    assert worker.store.get(snap.run_id).state is RunState.STOPPED


def test_stop_asked_while_the_checkpoint_is_being_written_leaves_it_whole(data_root: Path, runs_dir: Path) -> None:
    """The stop arrives between an epoch's end and its checkpoint write: both the file and the stop hold."""
    config = TrainConfig(epochs=5, train_limit=640, test_limit=200, device="cpu")
    control = TrainingControl()
    recorder = RunStore(runs_dir).create(config, device="cpu")

    def stop_at_epoch_end(event: Event) -> None:
        if isinstance(event, EpochCompleted) and event.epoch == 2:
            control.stop()  # the recorder, next in line, is about to write this epoch's checkpoint

    outcome = run_training(config, fan_out(stop_at_epoch_end, recorder), control=control, data_root=str(data_root))
    assert outcome.state is RunState.STOPPED and outcome.epochs_completed == 2
    info = assert_run_folder_complete(recorder.path)
    assert info["state"] == "stopped" and info["epochs_done"] == 2
    assert load_checkpoint(recorder.path / "checkpoint.pt").epoch == 2


def test_a_run_folder_that_cannot_be_written_fails_the_job_instead_of_leaving_it_running(
    worker: TrainingWorker,
) -> None:
    """The disk goes away under a run (its folder replaced by a file): the job ends as failed, saying where."""
    worker.start(SHORT.with_changes(log_interval=1))
    snap = wait_for(worker, lambda s: len(s.batches) >= 1)
    shutil.rmtree(snap.run_dir)
    snap.run_dir.write_text("not a folder any more")
    assert worker.join(WAIT)
    snap = worker.snapshot()
    assert snap.state is RunState.FAILED, f"the thread ended but the job still shows as {snap.state}"
    assert str(snap.run_dir) in snap.reason and "could not save" in snap.reason
    assert not snap.busy
    worker.start(SHORT.with_changes(epochs=1))  # and the next run works
    assert worker.join(WAIT)
    assert worker.snapshot().state is RunState.FINISHED


# -- concurrency ------------------------------------------------------------------------------


def test_two_sessions_see_one_job_the_second_cannot_start_another_and_closing_one_keeps_it(
    app_sessions: None,
) -> None:
    first = open_app("pages/train.py")
    set_quick_run(first, epochs=20, train_limit=2000, test_limit=300)
    first.button(key="train_start").click().run()
    assert not first.error and not first.warning
    job = the_page_worker().snapshot().run_id or wait_for(the_page_worker(), lambda s: s.run_id is not None).run_id

    second = open_app("pages/train.py")  # a second tab, or the same tab after a refresh
    rerun_until(second, lambda s: len(s.batches) >= 1)
    assert "running" in badge(second) and job in badge(second)
    second.button(key="train_start").click().run()
    assert any("already running" in w.value for w in second.warning)
    assert the_page_worker().snapshot().run_id == job
    assert len(the_page_worker().store.runs()) == 1

    del first  # the first tab is closed: its session goes away
    gc.collect()
    seen = len(the_page_worker().snapshot().batches)
    snap = wait_for(the_page_worker(), lambda s: len(s.batches) > seen + 2)
    assert snap.state is RunState.RUNNING and snap.run_id == job
    second.run()
    assert "running" in badge(second)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_twenty_start_stop_cycles_leave_memory_flat(worker: TrainingWorker) -> None:
    tiny = TrainConfig(epochs=1, train_limit=640, test_limit=100, log_interval=1, device="cpu")

    def cycle() -> None:
        worker.start(tiny)
        wait_for(worker, lambda s: len(s.batches) > 0 or s.state.is_final)
        assert worker.stop(timeout=30)

    for _ in range(5):  # warm up: thread pools, allocator arenas, lazily imported code
        cycle()
    gc.collect()
    before = _rss_bytes()
    for _ in range(20):
        cycle()
    gc.collect()
    grown = _rss_bytes() - before
    assert grown < 50e6, f"20 start/stop cycles grew the process by {grown / 1e6:.1f} MB"
    assert len(worker.store.runs()) == 25


# -- devices ----------------------------------------------------------------------------------


def test_out_of_memory_during_a_run_fails_it_with_that_reason_and_the_next_run_works(
    worker: TrainingWorker,
) -> None:
    """torch raises its OutOfMemoryError from inside a forward pass, as an exhausted GPU would."""
    calls = 0

    def exhaust_memory(module, inputs, output):
        nonlocal calls
        calls += 1
        if calls > 200:  # some batches train first
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total)")

    handle = register_module_forward_hook(exhaust_memory)
    try:
        worker.start(LONG)
        snap = wait_for(worker, lambda s: s.state.is_final)
    finally:
        handle.remove()
    assert snap.state is RunState.FAILED
    assert "out of memory" in snap.reason and "Tried to allocate 2.00 GiB" in snap.reason
    assert "Lower the batch size" in snap.reason and "\n" not in snap.reason
    assert len(snap.batches) >= 1
    info = worker.store.get(snap.run_id)
    assert info.state is RunState.FAILED and info.reason == snap.reason
    assert_run_folder_complete(info.path)

    worker.start(SHORT.with_changes(epochs=1))
    assert worker.join(WAIT)
    assert worker.snapshot().state is RunState.FINISHED


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_the_cli_refuses_a_device_that_does_not_exist(device: str, tmp_path: Path) -> None:
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    env = {**os.environ, "RESNET_MNIST_RUNS": str(tmp_path / "runs"), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "resnet_mnist", "train", "--device", device, "--epochs", "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert device.upper() in lines[0] and "not available" in lines[0]
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []


# -- files ------------------------------------------------------------------------------------


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


# -- canvas -----------------------------------------------------------------------------------


FILLED_CANVASES = {
    "rgba white strokes everywhere": np.full((280, 280, 4), 255, np.uint8),
    "rgb white strokes everywhere": np.full((280, 280, 3), 255, np.uint8),
    "rgba black everywhere": np.dstack([np.zeros((280, 280, 3), np.uint8), np.full((280, 280), 255, np.uint8)]),
    "rgba white, one pixel clear": np.pad(np.full((279, 280, 4), 255, np.uint8), ((0, 1), (0, 0), (0, 0))),
}


def test_a_filled_canvas_gets_no_prediction_and_no_error(app_sessions: None, draw_runs: Path) -> None:
    at = open_app("pages/draw.py")
    assert len(at.get("bidi_component")) == 1
    for name, image in FILLED_CANVASES.items():
        at.session_state[f"draw_canvas_{at.session_state['draw_canvas_version']}"] = canvas_value(image)
        at.run()
        assert not at.exception, f"{name}: {at.exception}"
        assert not any("% sure" in m.value for m in at.markdown), f"{name} was given a digit"
        assert any("Draw a digit" in i.value for i in at.info), name


# -- server -----------------------------------------------------------------------------------


def test_the_server_config_listens_on_localhost_with_xsrf_protection() -> None:
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost"
    assert config["server"]["enableXsrfProtection"] is True
    assert config["server"].get("enableCORS", True) is True
    assert config["server"]["maxUploadSize"] <= 20


def test_the_server_skips_streamlits_full_garbage_collection_after_each_run(monkeypatch) -> None:
    """A gc.collect(2) after every fragment tick held the GIL ~0.4 s a second while a job trained."""
    from streamlit import config

    monkeypatch.chdir(REPO)  # where `streamlit run app.py` reads .streamlit/config.toml from
    monkeypatch.delenv("STREAMLIT_RUNNER_POST_SCRIPT_GC", raising=False)
    config.get_config_options(force_reparse=True)
    try:
        assert config.get_option("runner.postScriptGC") is False
    finally:
        monkeypatch.undo()
        config.get_config_options(force_reparse=True)


def _listening_addresses(port: int) -> list[str]:
    """Local addresses of the sockets listening on `port`, read from the kernel's tables."""
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                # The kernel prints each 32-bit word in host (little-endian) order.
                ordered = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.append(socket.inet_ntop(socket.AF_INET if width == 8 else socket.AF_INET6, ordered))
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`streamlit run app.py` as a person starts it: no --server.address. Yields its port."""
    port = _free_port()
    folder = tmp_path_factory.mktemp("server")
    env = {**os.environ, "RESNET_MNIST_RUNS": str(folder / "runs"), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
    command += ["--server.fileWatcherType", "none"]
    with open(folder / "server.log", "wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (OSError, urllib.error.URLError):
                pass
            assert process.poll() is None, (folder / "server.log").read_text()
            assert time.monotonic() < deadline, "the server did not answer within 90 s"
            time.sleep(0.3)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def test_the_app_listens_on_the_loopback_address_only(default_server: int) -> None:
    addresses = _listening_addresses(default_server)
    assert addresses, f"nothing listens on port {default_server}"
    assert all(a in ("127.0.0.1", "::1") for a in addresses), f"listening on {addresses}"
    assert "0.0.0.0" not in addresses and "::" not in addresses


def test_xsrf_protection_refuses_an_upload_without_the_token(default_server: int) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{default_server}/_stcore/upload_file/some-session/some-file",
        data=b"--x\r\n",
        method="PUT",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert "xsrf" in refused.value.read().decode(errors="replace").lower()


BAD_RUN_IDS = ["../outside", "..", "/etc", "a/b", ".hidden", "", "x\\..\\y", "run\0id"]


@pytest.mark.parametrize("run_id", BAD_RUN_IDS)
def test_run_ids_cannot_leave_the_runs_folder(runs_dir: Path, run_id: str) -> None:
    outside = runs_dir.parent / "outside"
    outside.mkdir()
    (outside / "run.json").write_text(json.dumps({"state": "finished", "config": {}}))
    (runs_dir / "a").mkdir()
    store = RunStore(runs_dir)
    for action in (
        lambda: store.get(run_id),
        lambda: store.metrics(run_id),
        lambda: store.rename(run_id, "gotcha"),
        lambda: store.set_tags(run_id, ["gotcha"]),
        lambda: store.delete(run_id),
    ):
        with pytest.raises(RunNotFoundError):
            action()
    assert (outside / "run.json").is_file() and "gotcha" not in (outside / "run.json").read_text()
    assert Path("/etc").is_dir()


def test_the_draw_page_picks_only_runs_inside_the_runs_folder(
    app_sessions: None, draw_runs: Path, tiny_run: Path
) -> None:
    # A readable run with a checkpoint just outside the runs folder, named by a traversing id.
    outside = draw_runs.parent / "outside"
    shutil.copytree(tiny_run, outside)
    at = open_app("pages/draw.py")
    at.session_state["draw_run_id"] = "../outside"  # as a tampered session would hold it
    at.run()
    assert not at.exception
    picker = at.selectbox(key="draw_run_select")
    assert picker.value == tiny_run.name and picker.options == [picker.format_func(tiny_run.name)]


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
