"""Teaching a model the user's handwriting: the held-out split, and a real fine-tune measured honestly.

The handwriting is MNIST's last 400 test digits restyled (thick, slanted, dark on light, off-centre on
a large page); MNIST accuracy is measured on the first 2,000 test images, which never overlap them.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from torchvision.datasets import MNIST

from resnet_mnist import RunStore, TrainingWorker, load_checkpoint
from resnet_mnist.handwriting.digits import HandwritingError, read_set, relabel_digit
from resnet_mnist.handwriting.scores import score_run
from resnet_mnist.handwriting.teach import (
    KFOLD_BELOW,
    MNIST_WARN_DROP,
    TeachReport,
    TeachSettings,
    plan_holdout,
    prepare_teach,
)
from testdata.styled_handwriting import make_styled_folder

STYLED_DIGITS = 400
MNIST_TEST_IMAGES = 2000


@pytest.fixture(scope="module")
def styled_folder(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    test = MNIST(str(data_root), train=False)
    digits, labels = test.data[-STYLED_DIGITS:].numpy(), test.targets[-STYLED_DIGITS:].numpy()
    return make_styled_folder(tmp_path_factory.mktemp("styled") / "hw", digits, labels)


@pytest.fixture
def parent_store(trained_run, tmp_path: Path) -> tuple[RunStore, str]:
    """A runs folder holding a copy of the session's one-epoch run (~98.5% on MNIST)."""
    root = tmp_path / "runs"
    shutil.copytree(trained_run.path, root / trained_run.id)
    return RunStore(root), trained_run.id


def test_the_fixed_split_is_stratified_deterministic_and_disjoint(styled_folder: Path, tmp_path: Path) -> None:
    hset = read_set(styled_folder)
    plan = plan_holdout(hset, 0.25)
    assert plan.method == "fixed"
    assert not set(plan.train) & set(plan.held_out)
    assert sorted(plan.train + plan.held_out) == list(range(len(hset)))
    for digit in range(10):  # about a quarter of every digit
        members = [i for i, d in enumerate(hset.digits) if d.label == digit]
        held = [i for i in plan.held_out if hset.digits[i].label == digit]
        assert abs(len(held) - 0.25 * len(members)) <= 0.5
    # The same files are held out when labels.csv lists them in another order.
    shuffled = tmp_path / "shuffled"
    shutil.copytree(styled_folder, shuffled)
    lines = (shuffled / "labels.csv").read_text().splitlines()
    (shuffled / "labels.csv").write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    again = read_set(shuffled)
    held_files = {hset.digits[i].file for i in plan.held_out}
    assert {again.digits[i].file for i in plan_holdout(again, 0.25).held_out} == held_files


def test_small_sets_use_k_fold_and_holdout_zero_trains_on_all(styled_folder: Path, tmp_path: Path) -> None:
    small = tmp_path / "small"
    shutil.copytree(styled_folder, small)
    lines = (small / "labels.csv").read_text().splitlines()
    (small / "labels.csv").write_text("\n".join(lines[: KFOLD_BELOW - 9]) + "\n")  # 30 digits
    hset = read_set(small)
    plan = plan_holdout(hset, 0.25)
    assert plan.method == "kfold" and len(plan.folds) == 4
    assert sorted(i for fold in plan.folds for i in fold) == list(range(len(hset)))  # each digit in one fold
    assert plan_holdout(hset, 0.0).method == "none" and plan_holdout(hset, 0.0).train == tuple(range(len(hset)))
    one = tmp_path / "one"
    shutil.copytree(styled_folder, one)
    (one / "labels.csv").write_text("\n".join(lines[:2]) + "\n")
    with pytest.raises(HandwritingError, match="at least 2 digits"):
        plan_holdout(read_set(one), 0.25)


@pytest.mark.timeout(900)
def test_teaching_raises_held_out_handwriting_and_keeps_mnist(
    styled_folder: Path, parent_store: tuple[RunStore, str], data_root: Path
) -> None:
    """Through the dashboard's worker: a new run branched from the parent, scored on digits it never saw."""
    store, parent_id = parent_store
    hset = read_set(styled_folder)
    settings = TeachSettings(epochs=1, holdout=0.5, mnist_images=2000, test_limit=MNIST_TEST_IMAGES, device="cpu")
    job = prepare_teach(parent_id, hset, store=store, settings=settings, data_root=data_root)
    worker = TrainingWorker(store, data_root=data_root)
    worker.start(job)
    assert worker.join(timeout=540), "the fine-tune did not end"
    snapshot = worker.snapshot()
    assert snapshot.state.value == "finished", snapshot.reason
    assert snapshot.epochs and snapshot.batches  # the same live metrics as any run

    run = store.get(snapshot.run_id)
    assert run.parent == {"run": parent_id, "checkpoint": str(store.get(parent_id).checkpoint_path), "epoch": 1}
    report = run.teach["report"]
    held_files = set(run.teach["split"]["held_out"])
    assert held_files and not held_files & set(run.teach["split"]["train"])  # never scored on what it trained on
    assert report["method"] == "fixed" and report["held_out"] == len(held_files)
    assert abs(len(held_files) - STYLED_DIGITS // 2) <= 5  # half of each digit, rounded per digit
    gain = report["handwriting_after"] - report["handwriting_before"]
    assert gain >= 0.08, f"held-out handwriting {report['handwriting_before']:.3f} → {report['handwriting_after']:.3f}"
    mnist_change = report["mnist_after"] - report["mnist_before"]
    # Kept: no forgetting beyond 0.2 point (4 of these 2,000 images), the issue-24 goal; so no warning either.
    # Exactly 4 images is within (0.9795 − 0.9775 is 0.0020000000000000018 in floats, hence the 1e-9); on the
    # Intel Xeon of issue 24's closing note: 82.3% → 92.6% held out, MNIST 97.95% → 97.85% (2 images lost).
    # It may gain (main's 'auto' trains the parent in bf16 on CPUs that have it, ~97.4-98.0% on these images).
    assert mnist_change >= -0.002 - 1e-9, f"MNIST {report['mnist_before']:.4f} → {report['mnist_after']:.4f}"
    assert report["mnist_change"] == pytest.approx(mnist_change) and report["warning"] is None
    assert load_checkpoint(run.checkpoint_path).epoch == 1
    # Scored later (Runs page, Evaluate), it is scored only on the digits it did not train on.
    score = score_run(run, hset)
    trained = {i for i, d in enumerate(hset.digits) if d.file in set(run.teach["split"]["train"])}
    assert score.total == len(held_files) and not {m.index for m in score.misclassified} & trained
    assert score.accuracy == pytest.approx(report["handwriting_after"])


@pytest.mark.timeout(600)
def test_the_report_puts_mnist_beside_the_handwriting_and_warns_when_mnist_fell(
    styled_folder: Path, parent_store: tuple[RunStore, str], data_root: Path, tmp_path: Path
) -> None:
    """Taught wrong labels (each digit called the next) with nothing keeping the parent: MNIST falls, and says so."""
    store, parent_id = parent_store
    wrong = tmp_path / "wrong"
    shutil.copytree(styled_folder, wrong)
    header, *rows = (wrong / "labels.csv").read_text().splitlines()
    shifted = [f"{name},{(int(label) + 1) % 10}" for name, label in (row.split(",") for row in rows[:120])]
    (wrong / "labels.csv").write_text("\n".join([header, *shifted]) + "\n")
    settings = TeachSettings(
        epochs=1, holdout=0.5, mnist_images=500, distill=0, replay=0, test_limit=1000, device="cpu"
    )
    job = prepare_teach(parent_id, read_set(wrong), store=store, settings=settings, data_root=data_root)
    report = job.execute(lambda event: None).to_dict()  # what the CLI's --json prints and run.json keeps
    assert report["state"] == "finished" and report["mnist_total"] == 1000
    assert report["handwriting_before"] is not None and report["handwriting_after"] is not None
    before, after = report["mnist_before"], report["mnist_after"]
    assert report["mnist_change"] == pytest.approx(after - before) and after < before - MNIST_WARN_DROP
    assert f"{100 * before:.2f}% → {100 * after:.2f}%" in report["warning"]
    # The rule's edge: exactly half a point lower is not flagged, a little more is; no after, no warning.
    edge = TeachReport("finished", "fixed", 10, 0.5, 0.6, mnist_before=0.98, mnist_after=0.975, mnist_total=2000)
    assert edge.warning is None and replace(edge, mnist_after=0.9745).warning is not None
    assert replace(edge, mnist_after=None).warning is None and replace(edge, mnist_after=None).mnist_change is None


def test_scores_are_cached_per_run_and_recomputed_when_the_set_changes(
    styled_folder: Path, parent_store: tuple[RunStore, str], tmp_path: Path
) -> None:
    store, parent_id = parent_store
    folder = tmp_path / "hw"
    shutil.copytree(styled_folder, folder)
    run = store.get(parent_id)
    first = score_run(run, read_set(folder))
    assert not first.from_cache and first.total == STYLED_DIGITS
    again = score_run(run, read_set(folder))
    assert again.from_cache and again.correct == first.correct
    cache = json.loads((run.path / "handwriting.json").read_text())
    assert cache["key"]["set"] == read_set(folder).fingerprint
    # Relabel one digit the model reads right: a new set, scored afresh, one more mistake.
    hset = read_set(folder)
    right = next(i for i in range(len(hset)) if i not in {m.index for m in first.misclassified})
    relabel_digit(folder, hset.digits[right].file, (hset.digits[right].label + 1) % 10)
    changed = score_run(run, read_set(folder))
    assert not changed.from_cache and changed.correct == first.correct - 1


@pytest.mark.parametrize("damage", ["counts that disagree", "a number as text", "a link", "too big"])
def test_a_damaged_score_cache_is_computed_afresh_never_believed(
    damage: str, styled_folder: Path, parent_store: tuple[RunStore, str], tmp_path: Path
) -> None:
    store, parent_id = parent_store
    run = store.get(parent_id)
    hset = read_set(styled_folder)
    first = score_run(run, hset)
    cache = run.path / "handwriting.json"
    data = json.loads(cache.read_text())
    if damage == "counts that disagree":
        data["correct"] = data["total"]  # claims a perfect score its confusion matrix does not show
        cache.write_text(json.dumps(data))
    elif damage == "a number as text":
        data["total"] = str(data["total"])
        cache.write_text(json.dumps(data))
    elif damage == "a link":
        data["correct"] = data["total"]
        (tmp_path / "elsewhere.json").write_text(json.dumps(data))
        cache.unlink()
        cache.symlink_to(tmp_path / "elsewhere.json")
    else:
        with cache.open("ab") as handle:
            handle.truncate(20_000_000)  # padded past the size limit (a sparse file)
    again = score_run(run, hset)
    assert not again.from_cache and (again.correct, again.total) == (first.correct, first.total)
    assert score_run(run, hset).from_cache  # a good cache was written in its place
