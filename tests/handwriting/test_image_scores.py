"""An edit to the handwriting folder costs one image (issue 27.6): each image is decoded once and scored once
per checkpoint, by its content hash; the figures put together from the per-image answers equal a fresh
score, and a damaged per-image cache is a miss, never believed."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from torchvision.datasets import MNIST

from resnet_mnist import RunState, RunStore, TrainConfig, run_training
from resnet_mnist.handwriting.decoding import load_digits
from resnet_mnist.handwriting.digits import read_set, relabel_digit, save_drawing
from resnet_mnist.handwriting.image_scores import IMAGE_SCORES_FILE
from resnet_mnist.handwriting.scores import HANDWRITING_SCORE_FILE, score_run
from resnet_mnist.runs.store import RunInfo
from testdata.styled_handwriting import make_styled_folder

DIGITS = 24


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> RunInfo:
    store = RunStore(tmp_path_factory.mktemp("scores") / "runs")
    config = TrainConfig(epochs=1, train_limit=1000, test_limit=200, lr=0.05, momentum=0.9, device="cpu", threads=1)
    recorder = store.create(config, device="cpu")
    assert run_training(config, recorder, data_root=str(data_root)).state is RunState.FINISHED
    return store.get(recorder.run_id)


@pytest.fixture
def folder(tmp_path: Path, data_root: Path) -> Path:
    test = MNIST(str(data_root), train=False)
    return make_styled_folder(tmp_path / "hw", test.data[:DIGITS].numpy(), test.targets[:DIGITS].numpy(), seed=3)


def scored(run: RunInfo, folder: Path):
    """The score, and how many images it ran through the model (its progress's last total; 0 for none)."""
    seen = [0]
    evaluation = score_run(run, read_set(folder), progress=lambda done, total: seen.__setitem__(0, total))
    return evaluation, seen[0]


def fresh(run: RunInfo, folder: Path, tmp_path: Path):
    """The score computed from nothing: the run copied without any cache."""
    copy = tmp_path / "fresh" / run.id
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(run.path, copy, ignore=shutil.ignore_patterns(HANDWRITING_SCORE_FILE, IMAGE_SCORES_FILE))
    return score_run(RunStore(copy.parent).get(run.id), read_set(folder))


def test_a_relabel_scores_no_image_and_a_new_drawing_one(small_run: RunInfo, folder: Path, tmp_path: Path) -> None:
    run = small_run
    first, count = scored(run, folder)
    assert count == DIGITS and not first.from_cache
    hset = read_set(folder)
    relabel_digit(folder, hset.digits[0].file, (hset.digits[0].label + 1) % 10)
    relabelled, count = scored(run, folder)
    assert count == 0 and not relabelled.from_cache  # a new set, but every image's answer was known
    expected = fresh(run, folder, tmp_path)
    assert (relabelled.correct, relabelled.total, relabelled.confusion) == (
        expected.correct,
        expected.total,
        expected.confusion,
    )
    assert relabelled.loss == pytest.approx(expected.loss, rel=1e-6)
    assert [m.index for m in relabelled.misclassified] == [m.index for m in expected.misclassified]

    ink = load_digits(read_set(folder)).pixels[5]  # a drawing of its own: new content, a new hash
    image = (255 - np.round(np.roll(ink, 2, axis=1) * 255)).astype(np.uint8)
    save_drawing(folder, np.stack([image] * 3, axis=-1), np.roll(ink, 2, axis=1), 7)
    added, count = scored(run, folder)
    assert count == 1 and added.total == DIGITS + 1
    again = fresh(run, folder, tmp_path)
    assert (added.correct, added.confusion) == (again.correct, again.confusion)


def test_only_new_images_are_decoded(folder: Path) -> None:
    totals = []
    load_digits(read_set(folder), progress=lambda done, total: totals.append(total))
    assert (totals and set(totals) == {DIGITS}) or not totals  # cold: every image (unless an earlier test decoded them)
    hset = read_set(folder)
    relabel_digit(folder, hset.digits[1].file, (hset.digits[1].label + 1) % 10)
    totals.clear()
    relabelled = load_digits(read_set(folder), progress=lambda done, total: totals.append(total))
    assert totals == [] and int(relabelled.split.labels[1]) == (hset.digits[1].label + 1) % 10


@pytest.mark.parametrize("damage", ["another checkpoint's", "a wrong shape", "a pickle", "not a zip", "a link"])
def test_a_damaged_image_cache_is_a_miss(damage: str, small_run: RunInfo, folder: Path, tmp_path: Path) -> None:
    store_root = tmp_path / "runs"
    shutil.copytree(small_run.path, store_root / small_run.id)
    run = RunStore(store_root).get(small_run.id)
    first, _ = scored(run, folder)
    cache = run.path / IMAGE_SCORES_FILE
    (run.path / HANDWRITING_SCORE_FILE).unlink()  # only the per-image cache left to answer from
    with np.load(cache, allow_pickle=False) as npz:
        arrays = dict(npz)
    arrays["log_probs"] = np.zeros_like(arrays["log_probs"])  # would claim every digit is a 0, were it believed
    if damage == "another checkpoint's":
        arrays["stamp"] = arrays["stamp"] + 1
        np.savez(cache, **arrays)
    elif damage == "a wrong shape":
        arrays["log_probs"] = arrays["log_probs"][:, :9]
        np.savez(cache, **arrays)
    elif damage == "a pickle":
        arrays["sha"] = np.array(list(arrays["sha"]), dtype=object)
        np.savez(cache, **arrays)
    elif damage == "not a zip":
        cache.write_bytes(b"\x00" * 1000)
    else:
        np.savez(tmp_path / "elsewhere.npz", **arrays)
        cache.unlink()
        cache.symlink_to(tmp_path / "elsewhere.npz")
    again, count = scored(run, folder)
    assert count == DIGITS and (again.correct, again.confusion) == (first.correct, first.confusion)
