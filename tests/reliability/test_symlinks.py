"""Symbolic links in the runs folder: nothing is written, read or served through one, so a linked run
folder or file can neither make a rename write outside the runs folder nor make Download serve a file
from elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import open_app_page, record_run

from resnet_mnist import RunStore, load_split
from resnet_mnist.runs.evaluation import evaluate_run
from resnet_mnist.runs.store import RunInfo, RunNotFoundError, UnreadableRun
from resnet_mnist.ui.model_choice import usable_runs


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the runs folder, holding a real run and a secret file."""
    folder = tmp_path / "outside"
    run_id = record_run(RunStore(folder), name="outside").id
    (folder / "secret.pt").write_bytes(b"not for download")
    return folder / run_id


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_symlinked_run_folder_is_unreadable_and_refused_for_every_write(runs_dir: Path, outside: Path) -> None:
    store = RunStore(runs_dir)
    link = runs_dir / "20990101-000000-abcdef"
    link.symlink_to(outside, target_is_directory=True)
    before = _snapshot(outside.parent)
    [entry] = store.list_runs()
    assert isinstance(entry, UnreadableRun) and "symbolic link" in entry.problem
    for action in (
        lambda: store.update(link.name, name="written outside"),
        lambda: store.set_tags(link.name, ["x"]),
        lambda: store.delete(link.name),
        lambda: store.checkpoint_bytes(link.name),
        lambda: store.get(link.name),
    ):
        with pytest.raises(RunNotFoundError, match="symbolic link"):
            action()
    assert _snapshot(outside.parent) == before and link.is_symlink()


def test_a_symlinked_checkpoint_is_never_used_or_served(runs_dir: Path, outside: Path, data_root: Path) -> None:
    store = RunStore(runs_dir)
    run_id = record_run(store, name="linked checkpoint").id
    checkpoint = runs_dir / run_id / "checkpoint.pt"
    checkpoint.unlink()
    checkpoint.symlink_to(outside.parent / "secret.pt")
    run = store.get(run_id)
    assert isinstance(run, RunInfo) and not run.has_checkpoint
    assert usable_runs(store) == []
    with pytest.raises(RunNotFoundError, match="symbolic link"):
        store.checkpoint_bytes(run_id)
    load_split(data_root, train=False)
    at = open_app_page("pages/runs.py", runs_tab="Manage", compare_ids=[run_id])
    assert not at.exception
    assert not at.get("download_button")
    assert any("No checkpoint saved" in c.value for c in at.caption)


def test_symlinked_run_and_metrics_files_make_the_run_unreadable(runs_dir: Path, outside: Path) -> None:
    store = RunStore(runs_dir)
    for name in ("run.json", "metrics.json"):
        run_id = record_run(store).id
        target = runs_dir / run_id / name
        target.unlink()
        target.symlink_to(outside / name)
        entry = next(e for e in store.list_runs() if e.id == run_id)
        assert isinstance(entry, UnreadableRun)
        assert entry.problem == f"unreadable: {name}: is a symbolic link; only real files in the run folder are read"


def test_an_evaluation_cache_that_is_a_link_is_neither_read_nor_written_through(
    runs_dir: Path, outside: Path, data_root: Path
) -> None:
    store = RunStore(runs_dir)
    run = record_run(store)
    target = outside / "evaluation.json"
    target.write_text(json.dumps({"planted": True}))
    (run.path / "evaluation.json").symlink_to(target)
    result = evaluate_run(run, data_root=data_root, test_limit=100)
    assert not result.from_cache and result.total == 100
    assert json.loads(target.read_text()) == {"planted": True}  # the file outside is untouched
    assert not (run.path / "evaluation.json").is_symlink()  # the cache replaced the link itself
    assert evaluate_run(run, data_root=data_root, test_limit=100).from_cache
