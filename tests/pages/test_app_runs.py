"""The Runs page through Streamlit's AppTest, on real small runs: list, compare, evaluate, manage, sweep."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from helpers import open_app_page, record_run, the_page_worker, wait_for
from streamlit.testing.v1 import AppTest

from resnet_mnist import RunState, RunStore, TrainConfig, load_checkpoint, load_split, run_training
from resnet_mnist.jobs.worker import WorkerBusyError
from resnet_mnist.runs.evaluation import evaluate_run

REPO = Path(__file__).resolve().parents[2]
CONFIGS = [
    TrainConfig(epochs=1, lr=0.01, momentum=0.5, train_limit=1000, test_limit=300, device="cpu"),
    TrainConfig(epochs=1, lr=0.05, momentum=0.9, train_limit=1000, test_limit=300, device="cpu"),
    TrainConfig(epochs=1, lr=0.05, momentum=0.9, batch_size=32, train_limit=1000, test_limit=300, device="cpu"),
]


@pytest.fixture(scope="module")
def made_runs(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    root = tmp_path_factory.mktemp("app_runs") / "runs"
    store = RunStore(root)
    for index, config in enumerate(CONFIGS):
        recorder = store.create(config, device="cpu", name=f"run {index}")
        assert run_training(config, recorder, data_root=str(data_root)).state is RunState.FINISHED
    return root


@pytest.fixture
def runs_root(made_runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the runs, and the app pointed at it."""
    root = Path(shutil.copytree(made_runs, tmp_path / "app" / "runs"))
    monkeypatch.setenv("RESNET_MNIST_RUNS", str(root))
    return root


@pytest.fixture
def open_page(data_root: Path) -> Iterator:
    """Open the Runs page in a fresh app session, after clearing the app's cached resources (a restart)."""
    load_split(data_root, train=False)

    def start(**state: object) -> AppTest:
        return open_app_page("pages/runs.py", **state)

    yield start
    the_page_worker().stop(timeout=60)
    the_sweep_runner().stop(timeout=120)
    st.cache_resource.clear()


def table(at: AppTest):
    return at.dataframe[0].value


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def test_with_no_runs_the_page_says_how_to_make_one(open_page, runs_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("RESNET_MNIST_RUNS", str(runs_dir))
    at = open_page()
    assert any("No runs yet" in info.value for info in at.info)
    assert not at.dataframe and not at.error
    assert not at.get("plotly_chart")  # no empty hyperparameters chart before the first run
    at.session_state["runs_tab"] = "Sweep"
    at.run()
    assert not at.exception
    assert at.metric[0].value == "8"  # the default: 8 random trials


def test_several_runs_are_listed_again_after_a_restart(open_page, runs_root: Path) -> None:
    store = RunStore(runs_root)
    at = open_page()
    rows = table(at)
    assert set(rows["id"]) == {r.id for r in store.runs()} and len(rows) == 3
    for run in store.runs():
        row = rows[rows["id"] == run.id].iloc[0]
        assert row["run"] == run.name and row["state"] == "finished"
        assert row["final acc %"] == pytest.approx(100 * run.final_accuracy, abs=0.01)
        assert (row["lr"], row["momentum"], row["batch"]) == (run.config.lr, run.config.momentum, run.config.batch_size)
    assert not at.warning  # nothing unreadable

    again = open_page()  # caches cleared: a new worker and store read the folder afresh
    assert table(again).equals(rows)


def test_the_best_run_is_starred_in_the_table_and_named_above_it(open_page, runs_root: Path) -> None:
    store = RunStore(runs_root)
    record_run(store, [0.999], RunState.FAILED, name="failed high")  # a failed run is never the best
    best = max((r for r in store.runs() if r.state is RunState.FINISHED), key=lambda r: r.best_accuracy)
    at = open_page()
    rows = table(at)
    assert list(rows.loc[rows["best"] == "★", "id"]) == [best.id]
    assert (rows["best"] == "").sum() == len(rows) - 1
    (line,) = [m.value for m in at.markdown if "Best run" in m.value]
    assert f"{best.name} — {100 * best.best_accuracy:.2f}% best test accuracy" in line


def test_a_run_left_running_by_a_dead_server_shows_as_interrupted(open_page, runs_root: Path) -> None:
    ghost = RunStore(runs_root).create(CONFIGS[0], device="cpu", name="ghost")
    ghost.close()  # the server died: the kernel dropped its writer lock (tests/runs/test_run_ownership.py kills one)
    data = json.loads((ghost.path / "run.json").read_text())
    (ghost.path / "run.json").write_text(json.dumps({**data, "state": "running"}))
    rows = table(open_page())
    assert rows[rows["id"] == ghost.run_id].iloc[0]["state"] == "interrupted"


def test_broken_folders_are_listed_as_unreadable_not_a_crash(open_page, runs_root: Path) -> None:
    cut_short = runs_root / "20200101-000000-abcdef"
    cut_short.mkdir()  # a run whose start was cut short, a minute ago (a younger one is a run still starting)
    os.utime(cut_short, (time.time() - 60, time.time() - 60))
    corrupt = runs_root / "20200101-000000-fedcba"
    corrupt.mkdir()
    (corrupt / "run.json").write_text("{half a fi")
    at = open_page()
    assert len(table(at)) == 3
    assert any("could not be read" in w.value for w in at.warning)
    broken = at.dataframe[1].value
    assert set(broken["folder"]) == {"20200101-000000-abcdef", "20200101-000000-fedcba"}
    problems = dict(zip(broken["folder"], broken["problem"], strict=True))
    assert "no run.json" in problems["20200101-000000-abcdef"]
    assert problems["20200101-000000-fedcba"].startswith("unreadable: run.json: invalid JSON")


def test_selected_runs_are_overlaid_and_labelled_by_what_differs(open_page, runs_root: Path) -> None:
    runs = sorted(RunStore(runs_root).runs(), key=lambda r: r.name)
    at = open_page(compare_ids=[runs[0].id, runs[1].id])
    specs = charts(at)
    accuracy = next(s for s in specs if s["layout"]["title"]["text"] == "test accuracy")
    assert [t["name"] for t in accuracy["data"]] == ["lr=0.01 · momentum=0.5", "lr=0.05 · momentum=0.9"]
    assert [t["y"] for t in accuracy["data"]] == [[runs[0].final_accuracy], [runs[1].final_accuracy]]
    assert any(s["layout"]["title"]["text"] == "training loss" for s in specs)
    hparams = next(s for s in specs if s["data"][0]["type"] == "parcoords")
    final = next(d for d in hparams["data"][0]["dimensions"] if d["label"] == "final accuracy")
    assert sorted(final["values"]) == sorted(r.final_accuracy for r in runs)  # every run, not only the selected
    assert at.session_state["compare_ids"] == [runs[0].id, runs[1].id]


def test_evaluate_tab_shows_the_confusion_matrix_and_the_mistakes(open_page, runs_root: Path, data_root: Path) -> None:
    run = sorted(RunStore(runs_root).runs(), key=lambda r: r.name)[1]
    at = open_page(compare_ids=[run.id], runs_tab="Evaluate", eval_scope="the run's own 300 test images")
    assert not at.error
    evaluation = evaluate_run(run, data_root=data_root, test_limit=300)
    assert evaluation.from_cache  # the page computed and stored it
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Test accuracy"] == f"{evaluation.accuracy:.2%}" == f"{run.final_accuracy:.2%}"
    assert metrics["Mistakes"] == f"{len(evaluation.misclassified):,} of 300"
    confusion = next(s for s in charts(at) if s["data"][0]["type"] == "heatmap")
    assert confusion["data"][0]["z"] == [list(row) for row in evaluation.confusion]
    gallery = at.image[0]
    shown = evaluation.misclassified[: len(gallery.value)]
    assert gallery.captions == [f"{m.true} → {m.predicted} ({m.confidence:.1%})" for m in shown]
    assert len(gallery.value) == min(32, len(evaluation.misclassified))


def test_manage_renames_tags_picks_for_draw_and_deletes_with_confirmation(open_page, runs_root: Path) -> None:
    store = RunStore(runs_root)
    victim, *others = store.runs()
    at = open_page(compare_ids=[victim.id], runs_tab="Manage")
    at.text_input[0].set_value("best so far")
    at.text_input[1].set_value("keep, baseline")
    at.form_submit_button[0].click()
    at.run()
    assert not at.exception
    renamed = store.get(victim.id)
    assert renamed.name == "best so far" and renamed.tags == ("baseline", "keep")
    assert table(at)[table(at)["id"] == victim.id].iloc[0]["run"] == "best so far"

    at.button(key="use_in_draw").click()
    at.run()
    assert at.session_state["draw_run_id"] == victim.id

    at.button(key="delete_run").click()
    at.run()
    assert victim.path.is_dir()  # only asked, not yet deleted
    assert any("cannot be undone" in w.value for w in at.warning)
    at.button(key="confirm_delete_no").click()
    at.run()
    assert victim.path.is_dir()
    at.button(key="delete_run").click()
    at.run()
    at.button(key="confirm_delete_yes").click()
    at.run()
    assert not at.exception
    assert not victim.path.exists()
    assert {r.id for r in store.runs()} == {r.id for r in others}
    assert set(table(at)["id"]) == {r.id for r in others}
    assert "draw_run_id" not in at.session_state


def open_two_trial_sweep_form(open_page) -> AppTest:
    """The Sweep tab filled in for two long trials (lr 0.01 and 0.05, 40 epochs of 500 images)."""
    at = open_page(runs_tab="Sweep")
    at.text_input(key="sweep_lr").set_value("0.01, 0.05")
    at.text_input(key="sweep_momentum").set_value("0.9")
    at.text_input(key="sweep_epochs").set_value("40")
    at.text_input(key="sweep_train_limit").set_value("500")
    at.number_input(key="sweep_test_limit").set_value(100)
    at.radio(key="sweep_search").set_value("grid")
    at.run()
    return at


def the_sweep_runner():
    from pages._common import get_sweep_runner

    return get_sweep_runner()


def test_a_sweep_is_refused_while_a_job_runs(open_page, runs_root: Path) -> None:
    at = open_page(runs_tab="Sweep")
    # Long enough to outlast the page's run (its preview may measure this machine's pace for 2 s):
    # 20 epochs of 1,000 cached images could end first, and then nothing holds the cores.
    the_page_worker().start(TrainConfig(epochs=300, train_limit=1000, test_limit=100, device="cpu"))
    at.button(key="start_sweep").click()
    at.run()
    job, sweep = the_page_worker().snapshot(), the_sweep_runner().snapshot()
    why = f"warnings {[w.value for w in at.warning]}, errors {[e.value for e in at.error]}, job {job.state} "
    why += f"({job.reason}), sweep {sweep.state} ({sweep.error})"
    assert any("Train page" in w.value for w in at.warning), why
    assert not the_sweep_runner().is_alive() and the_sweep_runner().snapshot().state == "idle"
    assert the_page_worker().stop(timeout=60)


def test_precision_is_an_axis_picked_from_its_choices(open_page) -> None:
    at = open_page(runs_tab="Sweep")
    at.text_input(key="sweep_lr").set_value("0.01, 0.05")
    at.text_input(key="sweep_momentum").set_value("0.9")
    at.radio(key="sweep_search").set_value("grid")
    at.run()
    assert at.multiselect(key="sweep_precision").value == []  # not swept unless picked
    assert at.metric[0].value == "2" and not at.error
    at.multiselect(key="sweep_precision").set_value(["fp32", "bf16"]).run()
    assert at.metric[0].value == "4" and not at.error and not at.exception


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children, ...), read from /proc."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def _wait_for_trials(store: RunStore, sweep_id: str, count: int, runner) -> list:
    """The sweep's runs once `count` of them have an epoch done; fails at once, saying why, if the sweep ends."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        trials = [r for r in store.runs() if r.sweep == sweep_id and r.epochs_done >= 1]
        if len(trials) >= count:
            return trials
        snap = runner.snapshot()
        assert not snap.state.is_final, f"the sweep ended ({snap.state}) before its trials trained: {snap.error}"
        time.sleep(0.5)
    pytest.fail(f"after 240 s, {len(trials)} of {count} trials had an epoch done; the sweep is {runner.snapshot()}")


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_sweep_on_the_page_is_listed_live_outlives_its_ray_and_a_new_one_trains_and_stops(
    open_page, runs_root: Path
) -> None:
    """One sweep's life on the page: its trials listed while they run, its Ray killed under it (the page stays
    up, says so, and keeps each trial's last checkpoint), a new sweep at once, and Stop sweep.

    One test, not three: each sweep here costs ~15 CPU-seconds of Ray processes."""
    from resnet_mnist.sweeps.status import read_status, sweep_folder
    from resnet_mnist.ui.plain_text import escape_markdown

    at = open_two_trial_sweep_form(open_page)
    assert at.metric[0].value == "2" and not at.error
    at.button(key="start_sweep").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    runner, store = the_sweep_runner(), RunStore(runs_root)
    sweep_id = runner.snapshot().sweep_id
    assert runner.is_alive() and sweep_id
    with pytest.raises(WorkerBusyError, match="sweep"):  # the Train page cannot take the cores meanwhile
        the_page_worker().start(TrainConfig(epochs=1, train_limit=500, test_limit=100, device="cpu"))
    trials = _wait_for_trials(store, sweep_id, 2, runner)

    at.run()  # the Runs table and the Sweep tab list both trials as running
    rows = table(at).set_index("id")
    assert all(rows.loc[r.id, "state"] == "running" for r in trials), rows[["state", "sweep"]]
    assert all(rows.loc[r.id, "node"] == "node 1 · 127.0.0.1" for r in trials)  # one local Ray node:
    assert "node" not in at.dataframe[0].proto.column_order  # its column is not shown
    live = next(df.value for df in at.dataframe if "trial" in df.value.columns)  # the Sweep tab's trial table
    assert set(live["run"]) == {r.id for r in trials} and set(live["state"]) == {"running"}
    assert "lr" in live.columns and "momentum" not in live.columns  # only the settings that differ

    sweep_process = read_status(sweep_folder(runs_root, sweep_id)).pid
    ray_processes = _descendants(sweep_process)  # Ray's GCS, raylet and workers: what `ray stop --force` kills
    assert ray_processes, "the sweep's process started no Ray"
    for pid in ray_processes:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert runner.join(timeout=120), "the sweep's process outlived its Ray by two minutes"

    at.run()  # this process (the server) is up, and the page says what happened in one line
    assert not at.exception
    snap = runner.snapshot()
    assert snap.state == "failed" and snap.error
    assert [e.value for e in at.error] == [escape_markdown(snap.error)]
    rows = table(at).set_index("id")
    for run in trials:
        run = store.get(run.id)
        assert not run.live and not run.state.is_final  # nobody writes it, nothing says it ended
        assert rows.loc[run.id, "state"] == "interrupted"
        assert load_checkpoint(run.checkpoint_path).epoch >= 1  # its last checkpoint is kept

    at.text_input(key="sweep_lr").set_value("0.02")  # a new sweep starts at once, on a Ray started afresh
    at.run()
    at.button(key="start_sweep").click()
    at.run()
    assert not at.error, [e.value for e in at.error]
    second = runner.snapshot().sweep_id
    assert second != sweep_id and runner.is_alive()
    [trial] = _wait_for_trials(store, second, 1, runner)
    at.button(key="stop_sweep").click()
    at.run()
    assert runner.join(timeout=120), "Stop sweep did not end the sweep's process in two minutes"
    assert store.get(trial.id).state is RunState.STOPPED


def test_a_click_is_not_lost_while_a_jobs_epochs_end_during_the_pages_run(open_page, runs_root: Path) -> None:
    """The Runs page's live status reruns the page when a run starts or ends an epoch; during the page's own
    run that rerun swallowed the click being handled (Start sweep did nothing, said nothing) whenever an epoch
    ended between the page's top and its status line. Epochs of 64 images end many times a second here."""
    at = open_page(runs_tab="Sweep")
    the_page_worker().start(TrainConfig(epochs=500, train_limit=64, test_limit=16, log_interval=1, device="cpu"))
    wait_for(the_page_worker(), lambda s: len(s.epochs) >= 2)
    for attempt in range(5):
        at.button(key="start_sweep").click()
        at.run()
        warnings = [w.value for w in at.warning]
        assert any("Train page" in w for w in warnings), f"click {attempt + 1} of 5 said nothing: {warnings}"
    assert not the_sweep_runner().is_alive()
