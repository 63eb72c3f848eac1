"""Shared fixtures: the real MNIST files in ../shared/data, a private runs folder, a trained model."""

from __future__ import annotations

import os

# Before anything imports torch (its OpenMP runtime reads this once, at load), and inherited by every process
# the tests start (servers, commands, sweeps, Ray's workers): a thread of torch's pool that has run out of work
# sleeps at once instead of spinning for it. On 2 cores shared by two xdist workers, spinning threads took the
# CPU that the other worker's tests needed: 400 of the pure tests (core, predict, runs, handwriting; -n 2) took
# 133 and 175 s wall (247 and 329 core-s) with the default, 109 and 113 s (194 and 204 core-s) with PASSIVE.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import fcntl
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import streamlit as st

from resnet_mnist import RunState, RunStore, TrainConfig, TrainingWorker, load_split, run_training

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
# Each test run's local Rays (in this process, the sweeps' own processes and the e2e servers, which
# inherit the environment) keep their sessions in a folder of this run's, never another run's /tmp/ray.
# Short, under /tmp: Ray's socket paths must fit in 107 characters. Under pytest-xdist each worker is a
# test run of its own: it makes its own folder (and, below, its own cores lock), never the one it inherits.
if "RESNET_MNIST_RAY_TMPDIR" not in os.environ or os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["RESNET_MNIST_RAY_TMPDIR"] = _OWN_RAY_TMPDIR = tempfile.mkdtemp(prefix="rmray-", dir="/tmp")
else:
    _OWN_RAY_TMPDIR = None
# The Sweep tab starts a standby sweep process (a local Ray of its own) ahead of need: only the tests that
# ask for one get it (marked `ray`, run inside loopback-ns), never a page test that merely opens the tab.
os.environ.setdefault("RESNET_MNIST_SWEEP_STANDBY", "0")
# The claim on the cores is a lock file per machine: this run's servers and commands use one of their own
# (each test gets its own too, below), never the one a developer's dashboard or another test run holds.
_OWN_CORES_DIR = tempfile.mkdtemp(prefix="rmcores-", dir="/tmp")
os.environ["RESNET_MNIST_CORES_LOCK"] = os.path.join(_OWN_CORES_DIR, "cores.lock")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """This run's local Ray stopped and its sessions folder removed (only the folder this run made)."""
    from resnet_mnist.sweeps.ray_runtime import shutdown_ray

    shutdown_ray()
    if _OWN_RAY_TMPDIR is not None:
        shutil.rmtree(_OWN_RAY_TMPDIR, ignore_errors=True)
    shutil.rmtree(_OWN_CORES_DIR, ignore_errors=True)


def _data_root() -> Path:
    root = Path(os.environ.get("RESNET_MNIST_DATA", SHARED_DATA))
    if not (root / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
        pytest.fail(f"MNIST raw files not found under {root}; set RESNET_MNIST_DATA to the folder holding MNIST/raw/")
    return root


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The folder holding MNIST/raw/ (../shared/data unless $RESNET_MNIST_DATA says otherwise)."""
    return _data_root()


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    path = tmp_path / "runs"
    path.mkdir()
    return path


@pytest.fixture
def worker(runs_dir: Path, data_root: Path) -> Iterator[TrainingWorker]:
    """A training worker saving into this test's runs folder, stopped (and checked dead) after."""
    load_split(data_root, train=True)  # parse the files once up front, so jobs start training at once
    load_split(data_root, train=False)
    worker = TrainingWorker(RunStore(runs_dir), data_root=data_root)
    yield worker
    worker.stop(timeout=30)
    assert not worker.is_alive()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test sees the shared data folder and fresh runs and handwriting folders, never the developer's.

    Only tests that read MNIST ask for the `data_root` fixture (or a fixture built on it), which fails
    when the files are missing; pure tests (config, settings, sweep, formatting, preprocessing) run without them.
    """
    monkeypatch.setenv("RESNET_MNIST_DATA", str(Path(os.environ.get("RESNET_MNIST_DATA", SHARED_DATA))))
    monkeypatch.setenv("RESNET_MNIST_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("RESNET_MNIST_HANDWRITING", str(tmp_path / "handwriting"))
    monkeypatch.setenv("RESNET_MNIST_CORES_LOCK", str(tmp_path / "cores.lock"))


def _built_once_per_run(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """A folder that `build` fills once per test run, however many xdist workers ask: the first builds it
    under a lock, the others wait for it. Read-only for its users: copy it before writing."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's own folder, above each worker's
    folder, done = base / name, base / f"{name}.done"
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this worker dies
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


def _train_session_model(folder: Path) -> None:
    from resnet_mnist.core.events import fan_out

    store = RunStore(folder / "runs")
    config = TrainConfig(epochs=1, lr=0.05, momentum=0.9, device="cpu", threads=2)
    recorder = store.create(config, device="cpu", name="session model")
    outcome = run_training(config, fan_out(recorder), data_root=str(_data_root()))
    assert outcome.state.value == "finished", outcome.reason
    (folder / "run_id").write_text(recorder.run_id)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory):
    """One run trained once per test run on all of MNIST's training set (1 epoch, ~98.5%).

    lr 0.05 / momentum 0.9 learn in one epoch what the seed's recipe needs two or three for. Two
    threads, not auto: auto counts how busy the cores are, so the model (and every test measured on
    it) changed with the machine's load: 1 thread on a busy box trained one on which
    test_an_mnist_digit_comes_back_nearly_unchanged read 98.67% of digits alike (bound 99%), 2 threads
    one on which it passes, alone and in the full suite.
    Trained by the first xdist worker that asks (it took 42-49 s in each of both workers, side by side);
    each worker gets its own copy, so its tests may add runs beside it.
    Returns the RunInfo; its checkpoint is at `.checkpoint_path`.
    """
    built = _built_once_per_run(tmp_path_factory, "session-model", _train_session_model)
    own = tmp_path_factory.mktemp("trained") / "runs"
    shutil.copytree(built / "runs", own)
    return RunStore(own).get((built / "run_id").read_text())


@pytest.fixture(scope="session")
def seed_group_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Three seed groups trained once per session (seed_groups.three_groups): (runs folder, name → group id).
    Shared by the CLI, significance and page tests: copy it (seed_groups.copy_of) before writing to it."""
    from seed_groups import three_groups

    store = RunStore(tmp_path_factory.mktemp("seed_groups") / "runs")
    return store.root, three_groups(store, _data_root())


# -- the reliability tests' fixtures: a fresh app 'server', a tiny trained run, the app pointed at it --


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
