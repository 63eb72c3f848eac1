"""Any picture of a digit → the (1, 1, 28, 28) tensor the model expects, made the way MNIST was.

MNIST (LeCun et al.) fit each digit's bounding box into 20×20 keeping its aspect ratio, with
anti-aliasing, then placed it in a 28×28 field so that its centre of mass sits at the centre.
The canvas page and `python -m resnet_mnist predict` both go through `preprocess_image`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .data import normalize

__all__ = ["DIGIT_BOX", "ImageError", "PreprocessedDigit", "ink_from_image", "load_image", "preprocess_image"]

DIGIT_BOX = 20  # MNIST's digits fill a 20×20 box inside the 28×28 field
FIELD = 28
# Mean centre of mass of MNIST's training digits, in pixel indices (measured: 14.00, 14.01).
CENTRE = (14.0, 14.0)
_INK_FLOOR = 0.08  # ink below this (relative to the darkest stroke) is anti-aliasing fringe or noise
_MIN_CONTRAST = 0.1  # a picture whose strongest ink differs less than this from its background is empty


class ImageError(ValueError):
    """An image file could not be read as a picture."""


@dataclass(frozen=True)
class PreprocessedDigit:
    """The model's input (1, 1, 28, 28) normalised, and the same 28×28 as 0..1 ink for display."""

    tensor: torch.Tensor
    pixels: np.ndarray  # (28, 28) float32, 0 = background, 1 = full ink


def ink_from_image(image: np.ndarray) -> np.ndarray:
    """(H, W[, C]) uint8 or float image → (H, W) float ink in 0..1, whatever the colours.

    Transparent images (canvas strokes on a clear background) take ink from alpha; opaque ones
    from each pixel's difference in brightness from the background (the border's median), so
    white-on-black and black-on-white both work.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)) or array.size == 0:
        raise ImageError(f"expected a (H, W), (H, W, 3) or (H, W, 4) image, got shape {array.shape}")
    scale = 255.0 if array.dtype == np.uint8 or array.max(initial=0) > 1.0 else 1.0
    pixels = array.astype(np.float32) / scale
    if pixels.ndim == 2:
        luminance, alpha = pixels, None
    else:
        luminance = pixels[:, :, :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        alpha = pixels[:, :, 3] if pixels.shape[2] == 4 else None
    if alpha is not None and alpha.min() < 0.99:
        # Strokes on a (partly) transparent layer: alpha is the ink, whatever the stroke colour.
        ink = alpha
    else:
        border = np.concatenate([luminance[0], luminance[-1], luminance[:, 0], luminance[:, -1]])
        ink = np.abs(luminance - np.median(border))
    return np.clip(ink, 0.0, 1.0)


def preprocess_image(image: np.ndarray) -> PreprocessedDigit | None:
    """A picture of one digit → model input, or None when there is no ink (an empty canvas)."""
    ink = ink_from_image(image)
    strongest = float(ink.max(initial=0.0))
    if strongest < _MIN_CONTRAST:
        return None
    ink = ink / strongest
    ink[ink < _INK_FLOOR] = 0.0
    rows, cols = np.nonzero(ink)
    cropped = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    height, width = cropped.shape
    factor = DIGIT_BOX / max(height, width)
    new_h, new_w = max(1, round(height * factor)), max(1, round(width * factor))
    # Anti-aliased resampling, as MNIST's digits were.
    scaled = (
        F.interpolate(
            torch.from_numpy(np.ascontiguousarray(cropped))[None, None],
            size=(new_h, new_w),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )[0, 0]
        .clamp(0, 1)
        .numpy()
    )
    field = np.zeros((FIELD, FIELD), dtype=np.float32)
    total = float(scaled.sum())
    ys, xs = np.arange(new_h, dtype=np.float32), np.arange(new_w, dtype=np.float32)
    centre_y = float(scaled.sum(axis=1) @ ys) / total
    centre_x = float(scaled.sum(axis=0) @ xs) / total
    top = int(np.clip(round(CENTRE[0] - centre_y), 0, FIELD - new_h))
    left = int(np.clip(round(CENTRE[1] - centre_x), 0, FIELD - new_w))
    field[top : top + new_h, left : left + new_w] = scaled
    tensor = normalize(torch.from_numpy(field) * 255).reshape(1, 1, FIELD, FIELD)
    return PreprocessedDigit(tensor=tensor, pixels=field)


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a PNG/JPEG/… file as an (H, W, 3) or (H, W, 4) uint8 array."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as opened:
            has_alpha = opened.mode in ("RGBA", "LA", "PA") or "transparency" in opened.info
            return np.asarray(opened.convert("RGBA" if has_alpha else "RGB"))
    except FileNotFoundError:
        raise ImageError(f"no image file at {path}") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageError(f"{path} is not a readable image ({exc})") from None
