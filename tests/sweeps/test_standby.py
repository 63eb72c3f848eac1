"""A sweep's process started ahead of need: who gets its folder, and that it never outlives its use.

The handover tests are Ray-free. The process tests start a real standby (a local Ray of its own):
marked `ray`, run them inside ../shared/tools/loopback-ns.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import sweep_processes_for

from resnet_mnist import RunState, RunStore, TrainConfig
from resnet_mnist.jobs.sweep_runner import SweepRunner
from resnet_mnist.sweeps.spec import Axis, SweepSpec
from resnet_mnist.sweeps.standby import CLAIM_FILE, claim, wait_for_request
from resnet_mnist.sweeps.status import REQUEST_FILE, read_request, read_status, sweep_folder

REPO = Path(__file__).resolve().parents[2]
TINY = TrainConfig(epochs=1, train_limit=400, test_limit=200, device="cpu", log_interval=5)


def test_a_folder_is_claimed_once(tmp_path: Path) -> None:
    assert claim(tmp_path) and (tmp_path / CLAIM_FILE).exists()
    assert not claim(tmp_path)  # the other side lost: the standby left, or the dashboard took it
    assert not claim(tmp_path / "gone")  # a standby that left removed its folder


def test_a_standby_that_outwaited_its_time_claims_its_folder_so_no_request_lands_there(tmp_path: Path) -> None:
    started = time.monotonic()
    assert not wait_for_request(tmp_path, 0.2, threading.Event(), os.getppid())
    assert 0.2 <= time.monotonic() - started < 5
    assert not claim(tmp_path)  # the dashboard now starts a sweep cold instead


def test_a_standby_asked_to_stop_or_orphaned_leaves_at_once(tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    started = time.monotonic()
    assert not wait_for_request(tmp_path / "a", 60, threading.Event(), os.getppid())  # its folder was removed
    (tmp_path / "b").mkdir()
    assert not wait_for_request(tmp_path / "b", 60, stop, os.getppid())
    (tmp_path / "c").mkdir()
    assert not wait_for_request(tmp_path / "c", 60, threading.Event(), parent=-1)  # not our parent: it is gone
    assert time.monotonic() - started < 5


def test_a_claimed_standby_waits_for_the_request_even_when_its_time_is_up(tmp_path: Path) -> None:
    assert claim(tmp_path)  # the dashboard claimed it a moment before the standby's time ran out

    def write_request_later() -> None:
        time.sleep(0.5)
        (tmp_path / REQUEST_FILE).write_text("{}")

    writer = threading.Thread(target=write_request_later)
    writer.start()
    assert wait_for_request(tmp_path, 0.0, threading.Event(), os.getppid())
    writer.join()


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_start_hands_the_sweep_to_the_warm_standby_which_trains_at_once(runs_dir: Path, data_root: Path) -> None:
    store = RunStore(runs_dir)
    runner = SweepRunner(store, data_root=data_root, standby_s=300)
    try:
        runner.warm_up()
        _wait(lambda: runner.warm, 300, "the standby's Ray never got ready")
        [standby_folder] = (runs_dir / ".sweeps").iterdir()
        [standby_pid] = sweep_processes_for(standby_folder)
        spec = SweepSpec(base=TINY, space={"lr": Axis(values=(0.01, 0.05))}, search="grid", name="My lr test!")
        started = time.monotonic()
        sweep_id = runner.start(spec)
        # the standby's id, with the name typed after it (issue 25.6): its folder moves to that id
        assert sweep_id == f"{standby_folder.name}-my-lr-test"
        _wait(lambda: any(r.epochs_done for r in store.runs()), 240, "no trial trained")
        first_epoch_s = time.monotonic() - started
        _wait(lambda: not runner.snapshot().busy, 240, "the sweep never ended")
        assert runner.snapshot().state == "finished", runner.snapshot().error
        assert runner.snapshot().ray.startswith("a local Ray")
        # Start again the moment the end shows, as the tab offers: its process is still leaving Ray (seconds),
        # and the start waits for that rather than refusing it as a sweep still running.
        again = runner.start(SweepSpec(base=TINY, space={"lr": Axis(values=(0.02,))}, search="grid"))
        assert not Path(f"/proc/{standby_pid}").exists()  # the first sweep's process had left
        assert runner.join(timeout=240) and runner.snapshot().state == "finished", runner.snapshot().error
        first = [r for r in store.runs() if r.sweep == sweep_id]
        assert {r.state for r in first} == {RunState.FINISHED} and len(first) == 2
        assert {r.sweep for r in store.runs()} == {sweep_id, again} and len(store.runs()) == 3
        folder = sweep_folder(runs_dir, sweep_id)
        assert not standby_folder.exists() and read_request(folder).sweep_id == sweep_id
        assert read_status(folder).pid == standby_pid  # the standby's process ran it, in its renamed folder
        assert sweep_processes_for(standby_folder) == []
        print(f"\nStart -> first trial epoch with Ray warm: {first_epoch_s:.1f} s")
    finally:
        runner.stop(timeout=120)


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_standby_never_outlives_its_use(runs_dir: Path, data_root: Path) -> None:
    """Ended by stop(), by its idle time, and by its dashboard's end; each removes its folder."""
    sweeps = runs_dir / ".sweeps"
    runner = SweepRunner(RunStore(runs_dir), data_root=data_root, standby_s=300)
    runner.warm_up()
    [folder] = sweeps.iterdir()
    _wait(lambda: sweep_processes_for(folder), 30, "no standby started")
    runner.warm_up()  # one at a time
    assert len(list(sweeps.iterdir())) == 1
    assert runner.stop(timeout=60) and not sweep_processes_for(folder) and not folder.exists()

    idle = SweepRunner(RunStore(runs_dir), data_root=data_root, standby_s=2)
    idle.warm_up()
    [folder] = sweeps.iterdir()
    _wait(lambda: not folder.exists() and not sweep_processes_for(folder), 240, "an idle standby stayed")

    # A dashboard killed outright (no stop, no atexit): its standby sees it gone and leaves.
    script = (
        "import os, sys, time; from resnet_mnist import RunStore; "
        "from resnet_mnist.jobs.sweep_runner import SweepRunner; "
        "r = SweepRunner(RunStore(sys.argv[1]), standby_s=300); r.warm_up(); time.sleep(3); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", script, str(runs_dir)], cwd=REPO, timeout=120, check=True)
    [folder] = sweeps.iterdir()
    _wait(lambda: not folder.exists() and not sweep_processes_for(folder), 240, "an orphaned standby stayed")
