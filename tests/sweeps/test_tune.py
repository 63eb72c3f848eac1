"""Sweeps on a real Ray (num_cpus=2, and a simulated two-node cluster): trials are ordinary runs.

Run inside a loopback-only network namespace (../shared/tools/loopback-ns), as the README's test
command does: Ray listens on the machine's address otherwise. Select these with `-m ray`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from resnet_mnist import RunState, RunStore, TrainConfig, TrainingWorker, load_checkpoint
from resnet_mnist.jobs.cores import CoreClaim
from resnet_mnist.jobs.sweep_runner import SweepBusyError, SweepRunner
from resnet_mnist.jobs.worker import WorkerBusyError
from resnet_mnist.sweeps.ray_runtime import RayUnavailableError, connect_ray, shutdown_ray
from resnet_mnist.sweeps.spec import Axis, SweepError, SweepSpec

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(900)]  # a busy 2-core box is slow
REPO = Path(__file__).resolve().parents[2]
TINY = TrainConfig(epochs=1, train_limit=400, test_limit=200, device="cpu", log_interval=5)


@pytest.fixture
def local_ray() -> Iterator[None]:
    """This process's local Ray with 2 CPUs (started once, reused by the next tests)."""
    connection = connect_ray(num_cpus=2)
    if connection.nodes != 1:  # left over from the cluster test
        shutdown_ray()
        connect_ray(num_cpus=2)
    yield


def sweep_runs(store: RunStore, sweep_id: str):
    return [r for r in store.runs() if r.sweep == sweep_id]


def run(spec: SweepSpec, runs_dir: Path, data_root: Path, sweep_id: str = "sweep-test"):
    from resnet_mnist.sweeps.trainable import run_sweep

    return run_sweep(spec, sweep_id=sweep_id, runs_dir=runs_dir, data_root=data_root)


def test_asha_stops_a_clearly_bad_trial_early_and_keeps_its_checkpoint(
    local_ray, runs_dir: Path, data_root: Path
) -> None:
    # Two good learning rates first (so ASHA's first rung holds their results), then two that learn nothing.
    spec = SweepSpec(
        base=TINY.with_changes(epochs=3, momentum=0.9),
        space={"lr": Axis(values=(0.05, 0.08, 1e-6, 2e-6))},
        search="grid",
        scheduler="asha",
        grace_period=1,
        reduction_factor=2,
    )
    outcome = run(spec, runs_dir, data_root)
    runs = {r.config.lr: r for r in sweep_runs(RunStore(runs_dir), "sweep-test")}
    assert set(runs) == {0.05, 0.08, 1e-6, 2e-6}
    stopped = [r for r in runs.values() if r.state is RunState.STOPPED]
    # The two that learn nothing meet a first rung of good results: both are stopped there. (Of the two
    # good ones, the one reaching the rung second may be stopped too if it trails: that is ASHA.)
    assert {1e-6, 2e-6} <= {r.config.lr for r in stopped}, [
        (r.config.lr, r.state, r.epochs_done) for r in runs.values()
    ]
    for run_info in stopped:
        assert run_info.reason == f"stopped early by ASHA at epoch {run_info.epochs_done}"
        assert run_info.epochs_done < 3
        checkpoint = load_checkpoint(run_info.checkpoint_path)
        assert checkpoint.epoch == run_info.epochs_done and checkpoint.build_model() is not None
    assert runs[1e-6].epochs_done == runs[2e-6].epochs_done == 1
    assert any(r.state is RunState.FINISHED and r.epochs_done == 3 for r in runs.values())
    assert all(r.node.startswith("127.0.0.1 ") for r in runs.values())  # the node that ran it
    assert outcome.best is not None and outcome.best.values["lr"] in (0.05, 0.08)


def test_a_diverging_trial_fails_with_its_reason_while_the_others_finish(
    local_ray, runs_dir: Path, data_root: Path
) -> None:
    spec = SweepSpec(base=TINY.with_changes(momentum=0.9), space={"lr": Axis(values=(0.05, 1000.0))}, search="grid")
    outcome = run(spec, runs_dir, data_root)
    runs = {r.config.lr: r for r in sweep_runs(RunStore(runs_dir), "sweep-test")}
    assert runs[1000.0].state is RunState.FAILED and "diverged" in runs[1000.0].reason
    assert runs[0.05].state is RunState.FINISHED
    statuses = {t.values["lr"]: t for t in outcome.trials}
    assert statuses[1000.0].status == "ERROR" and "diverged" in statuses[1000.0].error
    assert statuses[0.05].status == "TERMINATED"


def test_a_precision_grid_trains_each_trial_in_its_own_precision(local_ray, runs_dir: Path, data_root: Path) -> None:
    spec = SweepSpec(base=TINY, space={"precision": Axis(values=("fp32", "bf16"))}, search="grid")
    outcome = run(spec, runs_dir, data_root)
    assert sorted(t.values["precision"] for t in outcome.trials) == ["bf16", "fp32"]
    store = RunStore(runs_dir)
    for trial_run in sweep_runs(store, "sweep-test"):
        assert trial_run.state is RunState.FINISHED
        [epoch] = store.run_metrics(trial_run.id).epochs
        assert epoch.precision == trial_run.config.precision  # bf16 asked, bf16 computed (any CPU can)


def test_optuna_proposes_values_inside_the_bounds(local_ray, runs_dir: Path, data_root: Path) -> None:
    space = {
        "lr": Axis(low=0.001, high=0.2, log=True),
        "momentum": Axis(low=0.1, high=0.9),
        "batch_size": Axis(low=32, high=128),
    }
    spec = SweepSpec(base=TINY, space=space, search="optuna", samples=3, seed=7)
    outcome = run(spec, runs_dir, data_root)
    runs = sweep_runs(RunStore(runs_dir), "sweep-test")
    assert len(runs) == 3 == len(outcome.trials)
    for run_info in runs:
        assert 0.001 <= run_info.config.lr <= 0.2
        assert 0.1 <= run_info.config.momentum <= 0.9
        assert isinstance(run_info.config.batch_size, int) and 32 <= run_info.config.batch_size <= 128
        assert run_info.state is RunState.FINISHED
    assert len({r.config.lr for r in runs}) == 3  # proposed, not repeated


def test_stop_mid_sweep_leaves_every_trial_a_stopped_run_with_a_loadable_checkpoint(
    local_ray, runs_dir: Path, data_root: Path
) -> None:
    store = RunStore(runs_dir)
    cores = CoreClaim()
    runner = SweepRunner(store, data_root=data_root, cores=cores)
    worker = TrainingWorker(store, data_root=data_root, cores=cores)
    spec = SweepSpec(base=TINY.with_changes(epochs=50, train_limit=1000), space={"lr": Axis(values=(0.01, 0.05))})
    spec = SweepSpec(**{**spec.__dict__, "search": "grid"})
    sweep_id = runner.start(spec)
    with pytest.raises(SweepBusyError, match="already running"):
        runner.start(spec)
    with pytest.raises(WorkerBusyError, match="A sweep is running"):  # the Train page is refused meanwhile
        worker.start(TINY)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # both trials training, each past its first epoch
        runs = sweep_runs(store, sweep_id)
        if len(runs) == 2 and all(r.epochs_done >= 1 for r in runs):
            break
        time.sleep(0.5)
    assert runner.snapshot().busy
    assert runner.stop(timeout=120), "the sweep did not stop"
    assert cores.holder is None  # the sweep gave the cores back
    runs = sweep_runs(store, sweep_id)
    assert len(runs) == 2
    for run_info in runs:
        assert run_info.state is RunState.STOPPED, (run_info.state, run_info.reason)
        assert run_info.reason == "stopped with the sweep (Stop sweep)"
        assert 1 <= run_info.epochs_done < 50
        assert load_checkpoint(run_info.checkpoint_path).build_model() is not None
    assert runner.snapshot().state == "stopped"


def test_a_bad_address_fails_with_one_line_and_starts_nothing(runs_dir: Path, data_root: Path) -> None:
    runner = SweepRunner(RunStore(runs_dir), data_root=data_root)
    spec = SweepSpec(base=TINY, space={"lr": Axis(values=(0.01,))})
    for address in ("127.0.0.1:1", "not an address"):
        with pytest.raises(RayUnavailableError):
            runner.start(spec, address=address)
        assert not runner.is_alive() and runner.snapshot().state == "idle"
        result = subprocess.run(
            [sys.executable, "-m", "resnet_mnist", "sweep", "--lr", "0.01", "--address", address],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )
        assert result.returncode == 1
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")
        assert result.stdout == ""
    assert not any(runs_dir.iterdir())


def test_cli_sweep_json_on_tiny_data(runs_dir: Path, data_root: Path) -> None:
    command = [
        sys.executable, "-m", "resnet_mnist", "sweep",
        "--lr", "0.01:0.1:log", "--momentum", "0.5,0.9", "--train-limit", "300", "--test-limit", "100",
        "--epochs", "1", "--search", "random", "--samples", "2", "--num-cpus", "2", "--name", "My lr test!",
        "--runs-dir", str(runs_dir), "--data-root", str(data_root), "--json",
    ]  # fmt: skip
    # A local Ray is local: never the cluster that RAY_ADDRESS (or a `ray start` elsewhere) points at.
    env = {**os.environ, "RAY_ADDRESS": "127.0.0.1:1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert len(report["trials"]) == 2
    assert report["sweep"].endswith("-my-lr-test")  # the name typed is in the sweep id, and each run's (below)
    store = RunStore(runs_dir)
    for trial in report["trials"]:
        run_info = store.get(trial["run_id"])
        assert run_info.sweep == report["sweep"] and run_info.state is RunState.FINISHED
        assert trial["state"] == "finished" and trial["epochs_done"] == 1
        assert 0.01 <= trial["config"]["lr"] <= 0.1 and trial["config"]["momentum"] in (0.5, 0.9)
        assert trial["best_accuracy"] == run_info.best_accuracy and trial["node"] == run_info.node
        # each trial trains on its one CPU's thread, however idle the cores were when it started
        assert [e.threads for e in store.run_metrics(trial["run_id"]).epochs] == [1]
    assert report["best"]["best_accuracy"] == max(t["best_accuracy"] for t in report["trials"])
    assert result.stderr.count("trial ") >= 2  # progress as trials end
    importance = report["importance"]  # which setting mattered: two trials are far too few to tell
    assert (importance["trials"], importance["enough"], importance["importance"]) == (2, False, {})
    assert importance["reason"].startswith("not enough trials: 2 scored")


def test_two_node_cluster_runs_trials_on_both_nodes(runs_dir: Path, data_root: Path) -> None:
    from ray.cluster_utils import Cluster

    shutdown_ray()  # this process's local Ray, if a test before started one
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        connection = connect_ray(cluster.address)
        assert (connection.nodes, connection.cpus) == (2, 2.0)
        spec = SweepSpec(
            base=TINY.with_changes(epochs=2),
            space={"lr": Axis(values=(0.01, 0.05)), "momentum": Axis(values=(0.5, 0.9))},
            search="grid",
            cpus_per_trial=1.0,
        )
        run(spec, runs_dir, data_root, sweep_id="sweep-cluster")
        runs = sweep_runs(RunStore(runs_dir), "sweep-cluster")
        print("\ntwo-node sweep:", connection.describe())
        for run_info in sorted(runs, key=lambda r: r.created):
            print(f"  run {run_info.id} lr={run_info.config.lr} momentum={run_info.config.momentum} "
                  f"{run_info.state.value} {100 * run_info.best_accuracy:.1f}% node={run_info.node}")  # fmt: skip
        assert len(runs) == 4 and all(r.state is RunState.FINISHED for r in runs)
        node_ids = {r.node.split()[1] for r in runs}
        assert node_ids == {node.node_id for node in cluster.list_all_nodes()}
    finally:
        shutdown_ray()
        cluster.shutdown()


def test_a_sweep_started_before_a_restart_is_followed_and_stopped_after_it(runs_dir: Path, data_root: Path) -> None:
    """The sweep runs in a process of its own: a server started afresh finds it, shows it live and can stop it."""
    store = RunStore(runs_dir)
    first = SweepRunner(store, data_root=data_root)
    spec = SweepSpec(base=TINY.with_changes(epochs=50, train_limit=1000), space={"lr": Axis(values=(0.01, 0.05))})
    sweep_id = first.start(SweepSpec(**{**spec.__dict__, "search": "grid"}))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len([r for r in sweep_runs(store, sweep_id) if r.epochs_done >= 1]) < 2:
        assert not first.snapshot().state.is_final, first.snapshot().error
        time.sleep(0.5)

    cores = CoreClaim()
    restarted = SweepRunner(RunStore(runs_dir), data_root=data_root, cores=cores)  # as a new server would
    snap = restarted.snapshot()
    assert snap.sweep_id == sweep_id and snap.busy and restarted.is_alive()
    assert len(snap.trials) == 2 and cores.holder is not None  # its trials, and the Train page is refused
    epochs = sum(t.epoch for t in snap.trials)
    while time.monotonic() < deadline and sum(t.epoch for t in restarted.snapshot().trials) == epochs:
        time.sleep(0.5)
    assert sum(t.epoch for t in restarted.snapshot().trials) > epochs, "the restarted server saw no progress"
    assert restarted.stop(timeout=120), "the sweep did not stop"
    assert restarted.snapshot().state == "stopped" and cores.holder is None
    assert first.join(timeout=30) and first.snapshot().state == "stopped"
    assert all(r.state is RunState.STOPPED for r in sweep_runs(store, sweep_id))


def test_a_trial_that_cannot_fit_is_refused_by_the_cli_and_the_tab_alike(runs_dir: Path, data_root: Path) -> None:
    """Ray would wait forever for 4 CPUs on 2, or for any CPU on none: one check says so, on both paths."""
    runner = SweepRunner(RunStore(runs_dir), data_root=data_root)
    spec = SweepSpec(base=TINY, space={"lr": Axis(values=(0.01,))}, cpus_per_trial=4.0)
    with pytest.raises(SweepError, match="each trial asks for 4 CPUs"):
        runner.start(spec, num_cpus=2)
    assert not runner.is_alive() and runner.snapshot().state == "idle"
    for flags in (["--cpus-per-trial", "4", "--num-cpus", "2"], ["--num-cpus", "0"]):
        command = [sys.executable, "-m", "resnet_mnist", "sweep", "--lr", "0.01", *flags, "--runs-dir", str(runs_dir)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
        assert result.returncode == 2, result.stderr[-2000:]  # invalid settings, as for any other
        # One line of ours; Ray's own log lines around it (its start, and at times an RpcError as it shuts
        # down after the refusal) are Ray's, on the same stderr.
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and "each trial asks for" in errors[0], result.stderr[-2000:]
    assert not [p for p in runs_dir.iterdir() if not p.name.startswith(".")]  # no run was made
