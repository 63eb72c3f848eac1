"""Run ids that try to leave the runs folder are refused everywhere; the Draw page offers only runs inside it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import (
    open_app,
)

from resnet_mnist import RunStore
from resnet_mnist.runs.store import RunNotFoundError

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
