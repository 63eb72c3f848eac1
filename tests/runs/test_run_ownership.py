"""One writer per run: the process recording a run owns its run.json. Edits of a live run go through that
writer (this process) or are refused (another process); a run another process writes is live, not
"interrupted", and cannot be deleted; a killed writer's run reads as interrupted at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import end_epoch, open_app_page, record_run, start_run

from resnet_mnist import RunState, RunStore
from resnet_mnist.core.events import StateChanged
from resnet_mnist.runs.comparison import INTERRUPTED, display_state
from resnet_mnist.runs.store import RunBusyError

REPO = Path(__file__).resolve().parents[2]
# Records a run in a process of its own and keeps it open, as the CLI, another server or a Ray trial does.
_OTHER_WRITER = """
import sys, time
from resnet_mnist import RunStore
from helpers import start_run
recorder = start_run(RunStore(sys.argv[1]), name="elsewhere")
print(recorder.run_id, flush=True)
time.sleep(600)
"""


def _on_disk(store: RunStore, run_id: str) -> dict:
    return json.loads((store.root / run_id / "run.json").read_text())


@pytest.fixture
def other_writer(runs_dir: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    """Another process recording a run in this runs folder (killed after the test if still there)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "tests"), str(REPO)]))
    process = subprocess.Popen(
        [sys.executable, "-c", _OTHER_WRITER, str(runs_dir)], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        run_id = process.stdout.readline().strip()
        assert run_id, "the other writer did not start"
        yield process, run_id
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        process.stdout.close()


def test_a_rename_and_tags_while_a_run_records_survive_its_later_writes(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    recorder = start_run(store, name="first")
    end_epoch(recorder, 1)
    assert store.update(recorder.run_id, name="renamed", tags=["keep", "me"]).name == "renamed"
    end_epoch(recorder, 2)  # the recorder writes run.json again: the edit is part of what it writes
    assert _on_disk(store, recorder.run_id)["name"] == "renamed"
    recorder(StateChanged(RunState.FINISHED, epoch=2))
    on_disk = _on_disk(store, recorder.run_id)
    assert (on_disk["name"], on_disk["tags"], on_disk["state"]) == ("renamed", ["keep", "me"], "finished")


def test_renaming_as_the_run_finishes_loses_neither_the_name_nor_the_final_state(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    for attempt in range(25):
        recorder = start_run(store)
        end_epoch(recorder, 1)
        start = threading.Barrier(2)

        def finish(recorder=recorder, start=start) -> None:
            start.wait()
            recorder(StateChanged(RunState.FINISHED, epoch=1))

        def rename(recorder=recorder, start=start, attempt=attempt) -> None:
            start.wait()
            store.update(recorder.run_id, name=f"name {attempt}")

        threads = [threading.Thread(target=finish), threading.Thread(target=rename)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        run = store.get(recorder.run_id)
        assert (run.state, run.name, run.live) == (RunState.FINISHED, f"name {attempt}", False), attempt


def test_a_run_another_process_writes_is_live_and_cannot_be_deleted_or_edited(
    runs_dir: Path, other_writer: tuple[subprocess.Popen, str]
) -> None:
    process, run_id = other_writer
    store = RunStore(runs_dir)
    run = store.get(run_id)
    assert run.live and display_state(run, active_run_id=None) == "running"
    with pytest.raises(RunBusyError, match=rf"being recorded by pid {process.pid} "):
        store.delete(run_id)
    with pytest.raises(RunBusyError, match="rename or tag it once it has ended"):
        store.update(run_id, name="mine now")
    assert (runs_dir / run_id).is_dir() and _on_disk(store, run_id)["name"] == "elsewhere"

    process.send_signal(signal.SIGKILL)  # the writer dies without writing a final state
    process.wait(timeout=30)
    run = store.get(run_id)
    assert not run.live and display_state(run, active_run_id=None) == INTERRUPTED
    store.update(run_id, name="recovered")
    assert store.get(run_id).name == "recovered"
    store.delete(run_id)
    assert not (runs_dir / run_id).exists()


def test_the_runs_page_shows_another_processs_run_as_running_and_offers_no_delete(
    runs_dir: Path, other_writer: tuple[subprocess.Popen, str], data_root: Path
) -> None:
    _, run_id = other_writer
    record_run(RunStore(runs_dir), name="older")  # an ended run beside it, which may be deleted
    at = open_app_page("pages/runs.py", runs_tab="Manage", compare_ids=[run_id])
    table = at.dataframe[0].value
    assert table.set_index("id").loc[run_id, "state"] == "running"
    assert any("being recorded now" in c.value for c in at.caption)
    assert not [b for b in at.button if b.key == "delete_run"]


def test_a_recorder_that_gives_up_lets_go_of_its_run(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    recorder = start_run(store)
    assert store.get(recorder.run_id).live
    with pytest.raises(RunBusyError):
        store.delete(recorder.run_id)
    recorder.close()  # what the worker does when the run's folder cannot be written
    assert not store.get(recorder.run_id).live
    store.delete(recorder.run_id)
