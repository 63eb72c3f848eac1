"""What the tests share: opening a page under AppTest, the page's worker, rerunning until a state, quick runs,
and run folders with chosen results (`record_run`: written by the real recorder from the events such a run sends)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import subprocess
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from resnet_mnist import Net, RunState, RunStore, TrainConfig, TrainingWorker, load_checkpoint, run_training
from resnet_mnist.core.engine import build_model
from resnet_mnist.core.events import BatchLogged, EpochCompleted, StateChanged
from resnet_mnist.jobs.worker import WorkerSnapshot
from resnet_mnist.runs.lock import LOCK_FILE
from resnet_mnist.runs.store import RunInfo, RunRecorder

REPO = Path(__file__).resolve().parents[1]
WAIT = 120.0  # generous: the CPU may be shared with other work


def open_app_page(page: str, **state: object) -> AppTest:
    """Run app.py, switch to `page` (e.g. "pages/draw.py") with `state` in the session, and check it ran.

    A fresh visitor after a restart: the cached worker and run store are built anew.
    """
    st.cache_resource.clear()
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.run()
    at.switch_page(page)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def the_page_worker() -> TrainingWorker:
    """The app's cached worker (st.cache_resource is shared by the whole process)."""
    from pages._common import get_worker

    return get_worker()


def wait_for(
    worker: TrainingWorker, condition: Callable[[WorkerSnapshot], bool], timeout: float = WAIT
) -> WorkerSnapshot:
    """The first snapshot for which `condition` holds; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = worker.snapshot()
        if condition(snap):
            return snap
        time.sleep(0.01)
    last = worker.snapshot()
    raise AssertionError(f"timed out; last snapshot: {last.state} {last.reason}")


def rerun_until(at: AppTest, condition: Callable[[WorkerSnapshot], bool], timeout: float = WAIT) -> WorkerSnapshot:
    """Rerun the page (as its live fragment does each second) until the worker's snapshot passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        snap = the_page_worker().snapshot()
        if condition(snap):
            at.run()  # render what was just seen
            assert not at.exception, at.exception
            return snap
        time.sleep(0.2)
    raise AssertionError(f"timed out; last state {the_page_worker().snapshot().state}")


def set_quick_run(at: AppTest, *, epochs: int = 1, train_limit: int = 1500, test_limit: int = 500) -> None:
    """Settings on the Train page for a run of seconds: a slice of MNIST, few epochs."""
    at.number_input(key="train_epochs").set_value(epochs)
    at.number_input(key="train_train_limit").set_value(train_limit)
    at.number_input(key="train_test_limit").set_value(test_limit)


def badge(at: AppTest) -> str:
    """The job's state badge(s) as the page wrote them."""
    return " ".join(m.value for m in at.markdown if "-badge[" in m.value)


# -- run folders written by the real RunRecorder from the engine's own events (no training) --

QUICK = TrainConfig(epochs=2, lr=0.05, momentum=0.9, train_limit=1000, test_limit=200, device="cpu")


def start_run(store: RunStore, *, name: str = "", config: TrainConfig = QUICK) -> RunRecorder:
    """A run in progress: created, running, one batch logged; its recorder still holds the run."""
    recorder = store.create(config, device="cpu", name=name)
    recorder(StateChanged(RunState.RUNNING))
    recorder(BatchLogged(1, 1, 1, 16, 2.3, 1000.0, config.lr, config.momentum))
    return recorder


def end_epoch(recorder: RunRecorder, epoch: int, accuracy: float = 0.9) -> None:
    torch.manual_seed(epoch)
    recorder(
        EpochCompleted(
            epoch, 2.0 / epoch, 0.5 / epoch, accuracy, round(200 * accuracy), 200, 1.0, 0.1, 1000.0,
            model_state=Net().state_dict(),
        )
    )  # fmt: skip


def record_run(
    store: RunStore,
    accuracies: Sequence[float] = (0.9,),
    state: RunState = RunState.FINISHED,
    *,
    checkpoint: bool = True,
    name: str = "",
    config: TrainConfig | None = None,
    sweep: str | None = None,
) -> RunInfo:
    """A run folder written by the real recorder from the events a run with these test accuracies sends
    (a sweep's trial when `sweep` names one).

    A run left RUNNING is one whose writer died (its recorder gives the run up): it reads as interrupted.
    """
    config = config or TrainConfig(epochs=max(len(accuracies), 1))
    recorder = store.create(config, device="cpu", name=name, sweep=sweep)
    recorder(StateChanged(RunState.RUNNING))
    weights = Net().state_dict() if checkpoint else None
    for epoch, accuracy in enumerate(accuracies, start=1):
        recorder(
            EpochCompleted(
                epoch=epoch,
                train_loss=0.3,
                test_loss=0.2,
                test_accuracy=accuracy,
                correct=round(accuracy * 1000),
                total=1000,
                train_seconds=1.0,
                test_seconds=0.1,
                images_per_second=1000.0,
                model_state=weights,
            )
        )
    if state is RunState.RUNNING:
        recorder.close()
    else:
        recorder(StateChanged(state, None if state is RunState.FINISHED else f"{state.value} for the test"))
    return store.get(recorder.run_id)


# -- the reliability tests' helpers --

# Small slices of the real MNIST: a job is a second or two.
SHORT = TrainConfig(epochs=2, train_limit=1500, test_limit=300, log_interval=5, device="cpu")


LONG = TrainConfig(epochs=20, train_limit=2000, test_limit=300, log_interval=1, device="cpu")


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
    leftovers = [name for name in leftovers if name != LOCK_FILE]  # the writer's lock file stays, unlocked
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


def train_fp32_run(root: Path, data_root: Path, *, name: str = "fp32") -> RunInfo:
    """A run trained for seconds (1,000 images, 1 epoch, lr 0.05 at momentum 0.9: ~85%) in fp32, so `evaluate`
    computes exactly what an fp32 export does (precision auto is bf16 on a CPU with AMX or AVX512-BF16)."""
    store = RunStore(root)
    config = TrainConfig(
        epochs=1, lr=0.05, momentum=0.9, train_limit=1000, test_limit=200, device="cpu", precision="fp32", threads=1
    )
    recorder = store.create(config, device="cpu", name=name)
    assert run_training(config, recorder, data_root=str(data_root)).state is RunState.FINISHED
    return store.get(recorder.run_id)


def ended_sweep(runs: Path, spec, state=None, trials: tuple = (), sweep_id: str | None = None) -> str:
    """A sweep folder as the sweep's process leaves it (its request, a final status.json); its id."""
    from resnet_mnist.sweeps.outcome import SweepState
    from resnet_mnist.sweeps.spec import new_sweep_id
    from resnet_mnist.sweeps.status import StatusWriter, SweepRequest, sweep_folder, write_request

    sweep_id = sweep_id or new_sweep_id(spec.name)
    folder = sweep_folder(runs, sweep_id)
    folder.mkdir(parents=True)
    write_request(folder, SweepRequest(sweep_id, spec.to_dict(), str(runs)))
    StatusWriter(folder, sweep_id).finish(state or SweepState.FINISHED, trials=trials)
    return sweep_id


def stopped_run(store: RunStore, reason: str, epochs_done: int = 1) -> RunInfo:
    """A run stopped after `epochs_done` epochs with `reason` (as ASHA or Stop sweep leave a trial's run)."""
    recorder = store.create(TrainConfig(epochs=3), device="cpu")
    recorder(StateChanged(RunState.RUNNING))
    for epoch in range(1, epochs_done + 1):
        end_epoch(recorder, epoch)
    recorder(StateChanged(RunState.STOPPED, reason))
    return store.get(recorder.run_id)


def sweep_processes_for(folder: Path) -> list[int]:
    """Every live `resnet_mnist.sweeps.process` whose command line names `folder`."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"resnet_mnist.sweeps.process" in cmdline and str(folder).encode() in cmdline:
                found.append(int(proc.name))
    return found


def teachable_parent(root: Path, data_root: Path, *, train_limit: int = 2000, name: str = "parent") -> RunInfo:
    """A parent good enough to teach: one epoch on `train_limit` images (seconds, where the session's model
    takes minutes), lr 0.05 at momentum 0.9, in a new runs folder under `root`."""
    store = RunStore(root / "runs")
    config = TrainConfig(
        epochs=1, train_limit=train_limit, test_limit=500, lr=0.05, momentum=0.9, device="cpu", threads=1
    )
    recorder = store.create(config, device="cpu", name=name)
    assert run_training(config, recorder, data_root=str(data_root)).state is RunState.FINISHED
    return store.get(recorder.run_id)


def cli_in_this_process(args: Sequence[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """`python -m resnet_mnist ARGS` as main(args) in this process: its exit code, stdout and stderr, and any
    exception as the traceback a process would print. The same code without the ~2 s a process spends
    importing torch; tests of the entry point itself (its exit code as a process) keep a real process."""
    from resnet_mnist.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        for key, value in (env or {}).items():
            patch.setenv(key, value)
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse's refusals
            code = exit_.code if isinstance(exit_.code, int) else 1
        except Exception:
            code = 1
            err.write(traceback.format_exc())
    return code, out.getvalue(), err.getvalue()


def cli_completed(args: Sequence[object], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """cli_in_this_process, answered as subprocess.run answers a command (returncode, stdout, stderr)."""
    argv = [str(a) for a in args]
    code, out, err = cli_in_this_process(argv, env)
    return subprocess.CompletedProcess(["python", "-m", "resnet_mnist", *argv], code, out, err)
