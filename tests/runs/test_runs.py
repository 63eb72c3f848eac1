"""Run folders: what a recorded run leaves on disk, and how the store reads it back."""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from resnet_mnist import RunState, RunStore, TrainConfig, load_checkpoint, run_training
from resnet_mnist.core.engine import TrainingControl
from resnet_mnist.core.events import BatchLogged, fan_out
from resnet_mnist.runs.store import RunInfo, RunNotFoundError, UnreadableRun, resolve_runs_dir


@pytest.fixture(scope="module")
def recorded(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> RunStore:
    """A store with one finished 2-epoch run on a small slice."""
    store = RunStore(tmp_path_factory.mktemp("store") / "runs")
    config = TrainConfig(epochs=2, train_limit=640, test_limit=200, device="cpu")
    recorder = store.create(config, device="cpu", name="tiny")
    outcome = run_training(config, recorder, data_root=str(data_root))
    assert outcome.state is RunState.FINISHED, outcome.reason
    return store


def test_recorder_writes_run_metrics_and_checkpoint(recorded: RunStore) -> None:
    [run] = recorded.list_runs()
    assert isinstance(run, RunInfo)
    assert sorted(p.name for p in run.path.iterdir()) == [
        ".writer.lock",
        "checkpoint.pt",
        "epochs",
        "metrics.json",
        "run.json",
    ]
    assert sorted(p.name for p in (run.path / "epochs").iterdir()) == ["epoch-001.pt", "epoch-002.pt"]
    info = json.loads((run.path / "run.json").read_text())
    assert info["state"] == "finished" and info["epochs_done"] == 2 and info["name"] == "tiny"
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    assert [b["batch"] for b in metrics["batches"]] == [1, 10, 1, 10]  # 10 batches an epoch: first and last logged
    checkpoint = load_checkpoint(run.checkpoint_path)
    assert checkpoint.epoch == 2
    assert checkpoint.config == run.config
    assert checkpoint.test_accuracy == metrics["epochs"][-1]["test_accuracy"]


def test_store_reads_runs_back(recorded: RunStore) -> None:
    [run] = recorded.runs()
    assert run.state is RunState.FINISHED and run.label == "tiny"
    assert run.config == TrainConfig(epochs=2, train_limit=640, test_limit=200, device="cpu")
    assert run.epochs_done == 2 and run.device == "cpu"
    metrics = recorded.metrics(run.id)
    assert run.final_accuracy == metrics["epochs"][-1]["test_accuracy"]
    assert run.best_accuracy == max(e["test_accuracy"] for e in metrics["epochs"])
    assert recorded.get(run.id) == run
    assert recorded.latest_usable() == run


def test_stopped_run_keeps_its_weights(data_root: Path, runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    config = TrainConfig(epochs=5, train_limit=3_200, test_limit=100, device="cpu")
    recorder = store.create(config, device="cpu")
    control = TrainingControl()

    def stop_after_a_few_batches(event) -> None:
        if isinstance(event, BatchLogged) and event.step >= 11:
            control.stop()

    outcome = run_training(config, fan_out(recorder, stop_after_a_few_batches), control=control)
    assert outcome.state is RunState.STOPPED
    run = store.get(recorder.run_id)
    assert run.state is RunState.STOPPED and run.reason
    assert run.has_checkpoint and load_checkpoint(run.checkpoint_path).epoch == 0
    assert store.latest_usable() == run


def test_failed_run_is_recorded_with_its_reason(runs_dir: Path, tmp_path: Path) -> None:
    store = RunStore(runs_dir)
    config = TrainConfig(epochs=1, device="cpu")
    recorder = store.create(config, device="cpu")
    run_training(config, recorder, data_root=str(tmp_path / "no-data"))
    run = store.get(recorder.run_id)
    assert run.state is RunState.FAILED and "MNIST" in run.reason
    assert not run.has_checkpoint
    assert store.latest_usable() is None


def _write_run(store: RunStore, run_id: str, state: str = "finished") -> Path:
    path = store.root / run_id
    path.mkdir(parents=True)
    info = {"id": run_id, "state": state, "config": TrainConfig().to_dict(), "name": run_id}
    (path / "run.json").write_text(json.dumps(info))
    return path


def test_a_run_folder_made_a_moment_ago_is_not_listed_as_broken_before_its_run_json(runs_dir: Path) -> None:
    # RunStore.create makes the folder and its recorder then writes run.json; the Runs page lists on every
    # rerun beside a worker or a sweep's trials, and showed "could not be read as runs" in between.
    store = RunStore(runs_dir)
    starting = runs_dir / "20250106-000000-ffffff"
    starting.mkdir()
    assert store.list_runs() == []
    os.utime(starting, (time.time() - 60, time.time() - 60))  # its start was cut short a minute ago
    [entry] = store.list_runs()
    assert isinstance(entry, UnreadableRun) and "no run.json" in entry.problem
    recorder = store.create(TrainConfig(), device="cpu", name="made now")
    assert [r.id for r in store.runs()] == [recorder.run_id]


def test_broken_folders_are_listed_as_unreadable(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    _write_run(store, "20250101-000000-aaaaaa")
    (runs_dir / "notes").mkdir()  # not a run at all
    (runs_dir / "notes" / "todo.txt").write_text("nothing to see")
    (runs_dir / "20250102-000000-bbbbbb").mkdir()  # start cut short: no run.json
    bad_json = _write_run(store, "20250103-000000-cccccc")
    (bad_json / "run.json").write_text('{"id": "20250103-000000-cccccc", "state": "fini')
    wrong_shape = _write_run(store, "20250104-000000-dddddd")
    (wrong_shape / "run.json").write_text("[1, 2, 3]")
    unknown_state = _write_run(store, "20250105-000000-eeeeee", state="exploded")
    (runs_dir / "stray-file.txt").write_text("not a folder")
    for folder in ("notes", "20250102-000000-bbbbbb"):  # made a minute ago: not a run still starting
        os.utime(runs_dir / folder, (time.time() - 60, time.time() - 60))

    listed = {r.id: r for r in store.list_runs()}
    assert set(listed) == {
        "20250101-000000-aaaaaa",
        "notes",
        "20250102-000000-bbbbbb",
        "20250103-000000-cccccc",
        "20250104-000000-dddddd",
        unknown_state.name,
    }
    assert isinstance(listed["20250101-000000-aaaaaa"], RunInfo)
    for run_id in set(listed) - {"20250101-000000-aaaaaa"}:
        assert isinstance(listed[run_id], UnreadableRun), run_id
        assert "run.json" in listed[run_id].problem
    assert [r.id for r in store.runs()] == ["20250101-000000-aaaaaa"]
    with pytest.raises(ValueError, match="unreadable"):
        store.get("20250103-000000-cccccc")


def test_delete_removes_only_that_folder(runs_dir: Path, tmp_path: Path) -> None:
    store = RunStore(runs_dir)
    keep = _write_run(store, "20250101-000000-aaaaaa")
    gone = _write_run(store, "20250102-000000-bbbbbb")
    outside = tmp_path / "precious"
    outside.mkdir()
    store.delete(gone.name)
    assert not gone.exists() and keep.exists() and outside.exists()
    assert [r.id for r in store.runs()] == [keep.name]
    for bad in ["..", "../precious", "/tmp", "", gone.name]:
        with pytest.raises(RunNotFoundError):
            store.delete(bad)
    assert keep.exists() and outside.exists()


def test_a_delete_that_fails_halfway_puts_the_run_back_listed_and_deletable(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folder is renamed out of the listing before it is emptied; if emptying fails (a busy mount, a
    file the OS will not let go), what is left comes back under its own name rather than hidden for good."""
    store = RunStore(runs_dir)
    run = _write_run(store, "20250101-000000-aaaaaa")
    (run / "checkpoint.pt").write_bytes(b"weights")
    real_rmtree = shutil.rmtree

    def rmtree_that_stops_halfway(path, *args, **kwargs) -> None:  # the OS's refusal, not our code's
        (Path(path) / "checkpoint.pt").unlink()
        raise OSError(errno.EBUSY, "Device or resource busy", str(path))

    monkeypatch.setattr(shutil, "rmtree", rmtree_that_stops_halfway)
    with pytest.raises(OSError, match="busy"):
        store.delete(run.name)
    assert sorted(p.name for p in runs_dir.iterdir()) == [run.name]  # nothing left under a .deleting- name
    assert not (run / "checkpoint.pt").exists() and [r.id for r in store.runs()] == [run.name]

    monkeypatch.setattr(shutil, "rmtree", real_rmtree)
    store.delete(run.name)
    assert list(runs_dir.iterdir()) == [] and store.list_runs() == []


def test_rename_and_tags_survive_a_reread(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    _write_run(store, "20250101-000000-aaaaaa")
    store.rename("20250101-000000-aaaaaa", "  best so far  ")
    store.set_tags("20250101-000000-aaaaaa", ["b", "a", " a ", ""])
    run = RunStore(runs_dir).get("20250101-000000-aaaaaa")
    assert run.name == "best so far" and run.tags == ("a", "b")


def test_runs_dir_comes_from_the_argument_then_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert resolve_runs_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.setenv("RESNET_MNIST_RUNS", str(tmp_path / "from-env"))
    assert resolve_runs_dir() == tmp_path / "from-env"
    monkeypatch.delenv("RESNET_MNIST_RUNS")
    assert resolve_runs_dir() == Path("runs")


def test_runs_made_in_the_same_second_still_list_newest_first(tmp_path: Path) -> None:
    """Ids carry the second; a seed group or a test makes several runs in one, which listed in random order."""
    store = RunStore(tmp_path / "runs")
    made = [store.create(TrainConfig(), device="cpu", name=f"run {i}").run_id for i in range(30)]
    seconds = {run_id[:15] for run_id in made}
    assert len(seconds) < len(made)  # some share a second: what this test is about
    assert [run.id for run in store.runs()] == made[::-1]
