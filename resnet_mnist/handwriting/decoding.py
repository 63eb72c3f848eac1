"""The user's digits as the model sees them: each image decoded and preprocessed as the canvas is.

Decoding is the slow part of every page that shows or scores the set (5,000 digits take minutes), so
it is cached twice: the whole set by its fingerprint, and each image by its file's content hash, so an
edit (a new drawing, a relabel, a delete) decodes only what is new. Sizes are checked from the
headers before a single pixel is decoded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import torch

from resnet_mnist.core.data import MnistSplit
from resnet_mnist.handwriting.digits import (
    MAX_DIGITS,
    MAX_SET_PIXELS,
    HandwritingData,
    HandwritingError,
    HandwritingSet,
    HandwrittenDigit,
    decode_image,
    image_size,
)
from resnet_mnist.predict.preprocess import ImageError, preprocess_image

__all__ = ["load_digits"]


def _check_pixels(hset: HandwritingSet) -> None:
    """Every image's size, and the set's total, from the headers: refused before a single pixel is decoded."""
    total = 0
    for digit in hset.digits:
        width, height = image_size(hset.path(digit), digit.where)
        total += width * height
        if total > MAX_SET_PIXELS:
            raise HandwritingError(
                f"{digit.where}: the images add up to over {MAX_SET_PIXELS // 1_000_000:,} megapixels, more than "
                f"can be decoded in a few minutes"
            )


_loaded: dict[tuple[str, str], HandwritingData] = {}
_loaded_lock = threading.Lock()
# Each image as preprocessed, by its file's content hash: an edit (a new drawing, a relabel, a delete)
# makes a new set, and only its new images are decoded. Bounded: a set holds at most MAX_DIGITS.
_prepared: OrderedDict[str, tuple[torch.Tensor, np.ndarray]] = OrderedDict()
_PREPARED_LIMIT = MAX_DIGITS + 2_000


def load_digits(hset: HandwritingSet, *, progress: Callable[[int, int], None] | None = None) -> HandwritingData:
    """Every image decoded and preprocessed as the canvas is; cached per set, and per image by content hash.

    `progress(done, total)` is called after each image decoded (`total`: those not cached); whatever it
    raises stops the decoding.
    """
    key = (str(hset.root.resolve()), hset.fingerprint)
    with _loaded_lock:
        if key in _loaded:
            return _loaded[key]
        cached = {d.sha256: _prepared[d.sha256] for d in hset.digits if d.sha256 and d.sha256 in _prepared}
    _check_pixels(hset)
    names = [d.sha256 or f"#{i}" for i, d in enumerate(hset.digits)]  # a digit without a hash: itself only
    to_decode = len(set(names) - set(cached))
    tensors, pixels, done = [], [], 0
    for name, digit in zip(names, hset.digits, strict=True):
        if name not in cached:
            cached[name] = _prepare(hset, digit)
            done += 1
            if progress is not None:
                progress(done, to_decode)
        tensor, ink = cached[name]
        tensors.append(tensor)
        pixels.append(ink)
    _remember_prepared(cached)
    images = torch.cat(tensors) if tensors else torch.empty((0, 1, 28, 28))
    labels = torch.tensor([d.label for d in hset.digits], dtype=torch.int64)
    data = HandwritingData(MnistSplit(images, labels), np.stack(pixels) if pixels else np.zeros((0, 28, 28)))
    with _loaded_lock:
        if len(_loaded) >= 8:
            _loaded.pop(next(iter(_loaded)))
        _loaded[key] = data
    return data


def _prepare(hset: HandwritingSet, digit: HandwrittenDigit) -> tuple[torch.Tensor, np.ndarray]:
    """One image decoded and preprocessed: (1, 1, 28, 28) normalised, and its 28×28 ink."""
    image = decode_image(hset.path(digit).read_bytes(), digit.where)
    try:
        prepared = preprocess_image(image)
    except ImageError as exc:
        raise HandwritingError(f"{digit.where}: {exc}") from None
    if prepared is None:
        raise HandwritingError(f"{digit.where}: no digit found in the image (blank, a dot or a blob)")
    return prepared.tensor, prepared.pixels


def _remember_prepared(prepared: dict[str, tuple[torch.Tensor, np.ndarray]]) -> None:
    """Keep these images for the next set (a file without a hash is not kept); the oldest go past the bound."""
    with _loaded_lock:
        for sha, item in prepared.items():
            if not sha.startswith("#"):
                _prepared[sha] = item
                _prepared.move_to_end(sha)
        while len(_prepared) > _PREPARED_LIMIT:
            _prepared.popitem(last=False)
