"""The one verdict cache behind evaluation.json and handwriting.json: files earlier versions wrote still
read, a damaged or foreign file is a miss for both, and what is written reads back."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import record_run

from resnet_mnist.core.files import write_cache_file
from resnet_mnist.handwriting.image_scores import ImageScores, read_image_scores, write_image_scores
from resnet_mnist.handwriting.scores import HANDWRITING_SCORE_CACHE
from resnet_mnist.runs.evaluation import EVALUATION_CACHE, RunEvaluation
from resnet_mnist.runs.schema import (
    EvaluationKey,
    HandwritingScoreKey,
    Misclassified,
    parse_evaluation,
    parse_handwriting_score,
)
from resnet_mnist.runs.store import RunStore
from resnet_mnist.runs.verdict_cache import VerdictCache

SET_SIZE = 12


@dataclass(frozen=True)
class Case:
    cache: VerdictCache
    key: Any
    parse: Callable[[bytes], Any]
    file: str  # the name on disk, as earlier versions wrote it
    format: str
    key_dict: dict[str, Any]


CASES = {
    "mnist": Case(
        EVALUATION_CACHE,
        EvaluationKey(size=4321, mtime_ns=17, test_limit=300),
        lambda raw: parse_evaluation(raw, "evaluation.json"),
        "evaluation.json",
        "resnet-mnist-evaluation/1",
        {"size": 4321, "mtime_ns": 17, "test_limit": 300},
    ),
    "handwriting": Case(
        HANDWRITING_SCORE_CACHE,
        HandwritingScoreKey(size=4321, mtime_ns=17, set="ab" * 32),
        lambda raw: parse_handwriting_score(raw, "handwriting.json", set_size=SET_SIZE),
        "handwriting.json",
        "resnet-mnist-handwriting-score/1",
        {"size": 4321, "mtime_ns": 17, "set": "ab" * 32},
    ),
}


def _verdict() -> RunEvaluation:
    """Ten digits, one of each, read right but for a 3 taken for an 8 and a 7 for a 1."""
    confusion = [[int(t == p) for p in range(10)] for t in range(10)]
    confusion[3][3], confusion[3][8] = 0, 1
    confusion[7][7], confusion[7][1] = 0, 1
    return RunEvaluation(
        run_id="r",
        total=10,
        correct=8,
        loss=0.5,
        confusion=tuple(tuple(row) for row in confusion),
        misclassified=(Misclassified(3, 3, 8, 0.9), Misclassified(7, 7, 1, 0.6)),
        test_limit=None,
        checkpoint_epoch=2,
        computed_at="2025-01-01T00:00:00+00:00",
    )


def _as_written_before(case: Case) -> dict[str, Any]:
    """The file as the two separate caches wrote it before they shared one mechanism."""
    verdict = _verdict()
    return {
        "format": case.format,
        "key": case.key_dict,
        "total": verdict.total,
        "correct": verdict.correct,
        "loss": verdict.loss,
        "confusion": [list(row) for row in verdict.confusion],
        "misclassified": [m.__dict__ for m in verdict.misclassified],
        "checkpoint_epoch": verdict.checkpoint_epoch,
        "computed_at": verdict.computed_at,
    }


@pytest.mark.parametrize("name", CASES)
def test_a_file_written_before_reads_and_a_written_one_is_the_same(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    assert case.cache.file == case.file
    (tmp_path / case.file).write_text(json.dumps(_as_written_before(case)))
    record = case.cache.read(tmp_path, case.key, case.parse)
    assert record is not None and record.key == case.key
    assert (record.total, record.correct, record.misclassified) == (10, 8, _verdict().misclassified)

    (tmp_path / case.file).unlink()
    case.cache.write(tmp_path, case.key, _verdict())
    assert json.loads((tmp_path / case.file).read_text()) == _as_written_before(case)
    assert case.cache.read(tmp_path, case.key, case.parse) == record


DAMAGES = ["absent", "not json", "counts that disagree", "a number as text", "a link", "too big", "another key"]


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("name", CASES)
def test_both_caches_miss_on_a_damaged_or_foreign_file(name: str, damage: str, tmp_path: Path) -> None:
    case = CASES[name]
    path = tmp_path / case.file
    data = _as_written_before(case)
    if damage == "not json":
        path.write_text('{"format": ')
    elif damage == "counts that disagree":
        data["correct"] = data["total"]  # a perfect score its confusion matrix does not show
    elif damage == "a number as text":
        data["total"] = str(data["total"])
    elif damage == "a link":
        (tmp_path / "elsewhere.json").write_text(json.dumps(data))
        path.symlink_to(tmp_path / "elsewhere.json")
    elif damage == "another key":
        data["key"] = {**data["key"], "mtime_ns": 18}  # the checkpoint was rewritten since
    if damage in ("counts that disagree", "a number as text", "another key", "too big"):
        path.write_text(json.dumps(data))
    if damage == "too big":
        with path.open("ab") as handle:
            handle.truncate(20_000_000)  # padded past the size limit (a sparse file)
    assert case.cache.read(tmp_path, case.key, case.parse) is None
    # The control: the same folder with a good file is a hit, so the miss above was the damage's doing.
    path.unlink(missing_ok=True)
    case.cache.write(tmp_path, case.key, _verdict())
    assert case.cache.read(tmp_path, case.key, case.parse) is not None


def _write_until(done: threading.Event, writes: list[BaseException | None], case: Case, folder: Path) -> None:
    """Write the verdict over and over until `done`; a write that raises ends it, recorded in `writes`."""
    while not done.is_set():
        try:
            case.cache.write(folder, case.key, _verdict())
        except BaseException as exc:  # the test reports it
            writes.append(exc)
            return
        writes.append(None)


def _wait_for_writes(writes: list[BaseException | None], count: int) -> None:
    deadline = time.monotonic() + 30
    while len(writes) < count:
        assert time.monotonic() < deadline, f"the cache writes stopped at {len(writes)}"
        assert not any(writes), f"a cache write raised {next(e for e in writes if e)!r}"
        time.sleep(0.001)


@pytest.mark.parametrize("name", CASES)
def test_a_run_deleted_while_its_verdict_is_written_stays_deleted(name: str, tmp_path: Path) -> None:
    """A verdict takes seconds to compute; the run may be deleted meanwhile (another tab's Manage). Its cache
    write, before, during or after the delete, must neither bring the folder back (the Runs page listed such a
    folder as a broken run), nor raise, nor make the delete fail."""
    case = CASES[name]
    store = RunStore(tmp_path / "runs")
    for attempt in range(10):
        run = record_run(store, checkpoint=False)
        writes: list[BaseException | None] = []
        done = threading.Event()
        writer = threading.Thread(target=_write_until, args=(done, writes, case, run.path), daemon=True)
        writer.start()
        try:
            _wait_for_writes(writes, 2)  # the cache is being written over and over when the delete comes
            store.delete(run.id)
            _wait_for_writes(writes, len(writes) + 2)  # and goes on after it
        finally:
            done.set()
            writer.join(timeout=30)
        assert not any(writes), f"attempt {attempt + 1}: a cache write raised {next(e for e in writes if e)!r}"
        assert not run.path.exists(), f"attempt {attempt + 1}: the deleted run's folder came back"
    assert store.runs() == [] and list(store.root.iterdir()) == []


def test_every_cache_of_a_run_folder_is_written_only_into_a_folder_that_is_there(tmp_path: Path) -> None:
    """The predictions (evaluation.pt) and the per-image scores go through the same writer as the verdicts."""
    gone = tmp_path / "runs" / "20990101-000000-abcdef"
    scores = ImageScores(epoch=1)
    scores["ab" * 32] = np.zeros(10, np.float32)
    assert write_cache_file(gone / "evaluation.pt", b"cache") is False
    write_image_scores(gone, (1, 2), scores, ["ab" * 32])
    assert not gone.exists() and not gone.parent.exists()
    gone.mkdir(parents=True)  # the control: with the folder there, both are written
    assert write_cache_file(gone / "evaluation.pt", b"cache") is True
    write_image_scores(gone, (1, 2), scores, ["ab" * 32])
    assert (gone / "evaluation.pt").read_bytes() == b"cache"
    assert read_image_scores(gone, (1, 2)) is not None
