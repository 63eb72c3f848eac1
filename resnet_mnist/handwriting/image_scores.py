"""A run's answers on each of the user's digits, kept by the image's content hash: an edit costs one image.

handwriting.json caches a run's verdict on the whole set, so any edit (a new drawing, a relabel, a
delete) misses it. Beneath it this file keeps the model's log-probabilities per image, keyed by the
checkpoint's stamp: a relabel needs no image scored again (the answer is the image's; right or wrong
is the label's), a new drawing one. The file is numpy's .npz without pickles, read bounded and
checked like every cache: anything odd is a miss, never believed.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import torch

from resnet_mnist.core.files import FileRefused, read_bounded, write_cache_file
from resnet_mnist.handwriting.digits import MAX_DIGITS

__all__ = ["IMAGE_SCORES_FILE", "ImageScores", "as_tensor", "read_image_scores", "write_image_scores"]

IMAGE_SCORES_FILE = "handwriting-images.npz"
_FORMAT = "resnet-mnist-image-scores/1"
_CLASSES = 10
_MAX_IMAGES = 2 * MAX_DIGITS  # the set now, plus what an edit or two ago held
_MAX_BYTES = _MAX_IMAGES * (64 * 4 + _CLASSES * 4) + 64_000  # hashes as unicode, log-probs as float32


class ImageScores(dict[str, np.ndarray]):
    """Image content hash → the model's log-probabilities (10,) for it; `epoch`: the checkpoint's."""

    def __init__(self, epoch: int = 0) -> None:
        super().__init__()
        self.epoch = epoch


def read_image_scores(folder: Path, stamp: tuple[int, int]) -> ImageScores | None:
    """The answers cached for the checkpoint with `stamp` (size, mtime_ns); None when absent or not usable."""
    try:
        raw = read_bounded(folder / IMAGE_SCORES_FILE, _MAX_BYTES)
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in ("format", "stamp", "epoch", "sha", "log_probs")}
    except (FileRefused, OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return None
    return _checked(arrays, stamp)


def _checked(arrays: dict[str, np.ndarray], stamp: tuple[int, int]) -> ImageScores | None:
    sha, log_probs = arrays["sha"], arrays["log_probs"]
    if str(arrays["format"]) != _FORMAT or arrays["stamp"].shape != (2,) or tuple(arrays["stamp"].tolist()) != stamp:
        return None
    if sha.dtype.kind != "U" or sha.ndim != 1 or len(sha) > _MAX_IMAGES:
        return None
    if log_probs.dtype != np.float32 or log_probs.shape != (len(sha), _CLASSES):
        return None
    if not np.isfinite(log_probs).all() or (log_probs > 1e-3).any() or arrays["epoch"].shape != ():
        return None
    scores = ImageScores(int(arrays["epoch"]))
    scores.update(zip(sha.tolist(), log_probs, strict=True))
    return scores


def write_image_scores(folder: Path, stamp: tuple[int, int], scores: ImageScores, keep_first: list[str]) -> None:
    """Write `scores` in one piece: the hashes in `keep_first` (the set now), then the rest up to the bound."""
    order = list(dict.fromkeys([h for h in keep_first if h in scores] + list(scores)))[:_MAX_IMAGES]
    buffer = io.BytesIO()
    np.savez(
        buffer,
        format=np.array(_FORMAT),
        stamp=np.array(stamp, dtype=np.int64),
        epoch=np.array(scores.epoch, dtype=np.int64),
        sha=np.array(order, dtype="<U64"),
        log_probs=np.stack([scores[h] for h in order]).astype(np.float32)
        if order
        else np.zeros((0, _CLASSES), np.float32),
    )
    write_cache_file(folder / IMAGE_SCORES_FILE, buffer.getvalue())  # never re-makes a deleted run's folder


def as_tensor(scores: ImageScores, hashes: list[str]) -> torch.Tensor:
    """The log-probabilities of `hashes`, in that order: (N, 10)."""
    if not hashes:
        return torch.empty((0, _CLASSES))
    return torch.from_numpy(np.stack([scores[h] for h in hashes]))
