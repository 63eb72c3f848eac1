"""Any picture of a digit → the (1, 1, 28, 28) tensor the model expects, made the way MNIST was.

MNIST (LeCun et al.) fit each digit's bounding box into 20×20 keeping its aspect ratio, with
anti-aliasing, then placed it in a 28×28 field so that its centre of mass sits at the centre.
A pen of any width is first brought to MNIST's usual stroke width (`even_stroke_width`), so a thin
pen does not give a faint one-pixel digit nor a thick one a digit with its loops filled.
The canvas page and `python -m resnet_mnist predict` both go through `preprocess_image`.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from resnet_mnist.core.data import normalize

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "DIGIT_BOX",
    "FIELD",
    "MAX_IMAGE_PIXELS",
    "STROKE_WIDTH_BAND",
    "ImageError",
    "PreprocessedDigit",
    "box_stroke_width",
    "crop_ink",
    "even_stroke_width",
    "image_array",
    "ink_from_image",
    "load_image",
    "preprocess_image",
    "stroke_width",
]

DIGIT_BOX = 20  # MNIST's digits fill a 20×20 box inside the 28×28 field
FIELD = 28
# Mean centre of mass of MNIST's training digits, in pixel indices (measured: 13.99, 14.00).
CENTRE = (14.0, 14.0)
_INK_FLOOR = 0.08  # ink below this (relative to the darkest stroke) is anti-aliasing fringe or noise
_MIN_CONTRAST = 0.1  # a picture whose strongest ink differs less than this from its background is empty
# A dot or a filled blob is not a digit, yet the model would call it "0" at 99%. A blob's solid part
# (ink > 0.5) is convex row by row and column by column, roughly round, and fills most of its box.
# Measured: of MNIST's 70k digits only 1 matches all three; a round dot of any size does.
_BLOB_ASPECT = 0.5  # short side ≥ half the long side: not a thin "1"
_BLOB_COVERAGE = 0.65  # a disc fills π/4 ≈ 0.785 of its box
# Stroke widths, in pixels of the 20×20 box, that are left alone; wider or thinner strokes are redrawn
# to the nearer end. MNIST's training digits (bench/stroke_width.py, 5,000 of them): median 2.52,
# quartiles 2.11 and 3.01. The band is their middle half, a little raised: narrow enough that the
# page's thinnest and thickest pens give much the same input, wide enough that MNIST's own digits
# pasted onto a picture are read as well as before (a narrower 2.25–2.85 cost some of the boldest;
# see the README's figures).
STROKE_WIDTH_BAND = (2.25, 3.1)
_STROKE_WORK = 160  # strokes are measured and redrawn with the digit's longer side at 8 × 20 pixels
_STROKE_PASSES = 3
_STROKE_TOLERANCE = 0.05  # pixels of the 20×20 box: close enough to the band to stop redrawing

# A 5000 × 5000 photo; decoding more (as RGBA, then as floats) would take gigabytes for one digit.
MAX_IMAGE_PIXELS = 25_000_000


class ImageError(ValueError):
    """An image file could not be read as a picture."""


@dataclass(frozen=True)
class PreprocessedDigit:
    """The model's input (1, 1, 28, 28) normalised, and the same 28×28 as 0..1 ink for display."""

    tensor: torch.Tensor
    pixels: np.ndarray  # (28, 28) float32, 0 = background, 1 = full ink


def _as_unit_float(array: np.ndarray) -> np.ndarray:
    """Any numeric image → float32 in 0..1 (uint8, and floats or ints above 1, are divided by 255)."""
    if array.dtype == np.uint8:
        return array.astype(np.float32) * np.float32(1 / 255)
    pixels = np.nan_to_num(array.astype(np.float32))
    scale = 255.0 if pixels.max(initial=0.0) > 1.0 else 1.0
    return np.clip(pixels / scale, 0.0, 1.0)


def _border(plane: np.ndarray) -> np.ndarray:
    return np.concatenate([plane[0], plane[-1], plane[:, 0], plane[:, -1]])


def ink_from_image(image: np.ndarray) -> np.ndarray:
    """(H, W[, C]) image of any numeric dtype → (H, W) float ink in 0..1, whatever the colours.

    Strokes on a transparent layer (the canvas, PNGs with a clear background) take ink from
    alpha, whatever the stroke colour. Opaque pictures take it from each pixel's difference in
    brightness from the background (the border's median), so white-on-black, black-on-white and
    coloured pens all work.
    """
    array = np.asarray(image)
    if array.ndim >= 2 and array.shape[0] * array.shape[1] > MAX_IMAGE_PIXELS:
        raise ImageError(_too_many_pixels("the image", array.shape[1], array.shape[0]))
    if array.ndim == 3 and array.shape[2] in (1, 2):  # gray, or gray + alpha
        array = array[:, :, 0] if array.shape[2] == 1 else np.dstack([array[:, :, :1]] * 3 + [array[:, :, 1:]])
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)) or array.size == 0:
        raise ImageError(f"expected a (H, W), (H, W, 3) or (H, W, 4) image, got shape {array.shape}")
    alpha = _as_unit_float(array[:, :, 3]) if array.ndim == 3 and array.shape[2] == 4 else None
    if alpha is not None and np.median(_border(alpha)) < 0.5:
        # Strokes on a transparent background: alpha is the ink.
        return alpha
    pixels = _as_unit_float(array if array.ndim == 2 else array[:, :, :3])
    luminance = pixels if pixels.ndim == 2 else pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    background = float(np.median(_border(luminance)))
    if alpha is not None:
        # An opaque background with some see-through pixels: see them as background.
        luminance = alpha * luminance + (1.0 - alpha) * background
    return np.clip(np.abs(luminance - background), 0.0, 1.0)


def _is_blob(cropped: np.ndarray) -> bool:
    """A dot or a filled patch: solid ink that is roundish, mostly fills its box and has no gaps."""
    solid = cropped > 0.5
    rows, cols = np.nonzero(solid)
    if rows.size == 0:
        return False
    box = solid[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    height, width = box.shape
    if min(height, width) < _BLOB_ASPECT * max(height, width) or float(box.mean()) <= _BLOB_COVERAGE:
        return False
    # A digit's strokes leave gaps: some row or column enters the ink more than once.
    padded = np.pad(box, 1).astype(np.int8)
    entries_per_row = (np.diff(padded, axis=1) == 1).sum(axis=1)
    entries_per_col = (np.diff(padded, axis=0) == 1).sum(axis=0)
    return int(entries_per_row.max()) <= 1 and int(entries_per_col.max()) <= 1


def _resize(ink: np.ndarray, longer_side: int) -> np.ndarray:
    """Scale (H, W) ink so its longer side is `longer_side`, keeping the aspect ratio; anti-aliased, as MNIST was."""
    height, width = ink.shape
    factor = longer_side / max(height, width)
    size = (max(1, round(height * factor)), max(1, round(width * factor)))
    resized = F.interpolate(
        torch.from_numpy(np.ascontiguousarray(ink, dtype=np.float32))[None, None],
        size=size,
        mode="bilinear",
        antialias=True,
        align_corners=False,
    )
    return resized[0, 0].clamp(0, 1).numpy()


def _crop(ink: np.ndarray) -> np.ndarray:
    """The bounding box of the non-zero ink."""
    rows, cols = np.nonzero(ink)
    return ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def stroke_width(ink: np.ndarray) -> float:
    """Mean width of the strokes in (H, W) ink, in its pixels, from the distance transform of its solid part.

    Across a stroke of width w the distance to its edge runs evenly from 0 to w/2 and back, so its
    mean is w/4 (+0.5 from measuring at pixel centres).
    """
    from scipy import ndimage  # here, not at the top: it costs every CLI command a fifth of a second

    solid = np.pad(ink > 0.5 * float(ink.max(initial=0.0)), 1)
    if not solid.any():
        return 0.0
    inside = ndimage.distance_transform_edt(solid)  # distance to the nearest background pixel
    return 4.0 * (float(inside[solid].mean()) - 0.5)


def box_stroke_width(cropped: np.ndarray) -> float:
    """Stroke width of a cropped digit in pixels of MNIST's 20×20 box, measured at 8× that size."""
    return stroke_width(_resize(cropped, _STROKE_WORK)) * DIGIT_BOX / _STROKE_WORK


def _move_edges(work: np.ndarray, grow: float) -> np.ndarray:
    """Ink whose edges are moved out by `grow` pixels everywhere (in if negative), anti-aliased, cropped."""
    from scipy import ndimage

    margin = max(0, math.ceil(grow)) + 2
    solid = np.pad(work > 0.5 * float(work.max()), margin)
    # Signed distance to the strokes' edge (edges lie half a pixel from the pixel centres): + inside.
    edge = np.where(
        solid,
        ndimage.distance_transform_edt(solid) - 0.5,
        0.5 - ndimage.distance_transform_edt(~solid),
    )
    redrawn = np.clip(edge + grow + 0.5, 0.0, 1.0).astype(np.float32)
    redrawn[redrawn < _INK_FLOOR] = 0.0
    return _crop(redrawn) if redrawn.any() else work


def even_stroke_width(cropped: np.ndarray, band: tuple[float, float] = STROKE_WIDTH_BAND) -> np.ndarray:
    """Cropped ink → cropped ink whose strokes, once its longer side is 20 px, are `band[0]`–`band[1]` px wide.

    Strokes already in the band are returned as they are. Others are redrawn at a working size by
    moving their edges by the same amount everywhere; a second or third pass corrects what the
    first missed (a bold digit's filled corners thin more slowly than its strokes).
    """
    result = cropped
    for _ in range(_STROKE_PASSES):
        work = _resize(result, _STROKE_WORK)
        width = stroke_width(work)  # in working pixels
        in_box = width * DIGIT_BOX / _STROKE_WORK  # the same as box_stroke_width(result)
        target = min(max(in_box, band[0]), band[1])
        if width == 0.0 or abs(target - in_box) <= (0.0 if result is cropped else _STROKE_TOLERANCE):
            break
        # Moving every edge out by `grow` widens the strokes by 2·grow and the digit's box too, which
        # changes the scale: solve (width + 2·grow) / (work + 2·grow) = target / 20 for grow.
        share = target / DIGIT_BOX
        result = _move_edges(work, (share * _STROKE_WORK - width) / (2.0 * (1.0 - share)))
    return result


def crop_ink(image: np.ndarray) -> np.ndarray | None:
    """A picture → its ink (0..1, strongest stroke = 1, faint fringe dropped) cropped to the digit; None if blank."""
    ink = ink_from_image(image)
    strongest = float(ink.max(initial=0.0))
    if strongest < _MIN_CONTRAST:
        return None
    ink = ink / strongest
    ink[ink < _INK_FLOOR] = 0.0
    return _crop(ink)


def preprocess_image(image: np.ndarray, *, even_strokes: bool = True) -> PreprocessedDigit | None:
    """A picture of one digit → model input; None when there is no digit (no ink, or only a dot or blob).

    `even_strokes=False` keeps the pen's own stroke width (for comparison; see `even_stroke_width`).
    """
    cropped = crop_ink(image)
    if cropped is None or _is_blob(cropped):
        return None
    if even_strokes:
        cropped = even_stroke_width(cropped)
    scaled = _resize(cropped, DIGIT_BOX)  # (new_h, new_w), longer side 20
    new_h, new_w = scaled.shape
    total = float(scaled.sum())
    ys, xs = np.arange(new_h, dtype=np.float32), np.arange(new_w, dtype=np.float32)
    centre_y = float(scaled.sum(axis=1) @ ys) / total
    centre_x = float(scaled.sum(axis=0) @ xs) / total
    top = int(np.clip(round(CENTRE[0] - centre_y), 0, FIELD - new_h))
    left = int(np.clip(round(CENTRE[1] - centre_x), 0, FIELD - new_w))
    field = np.zeros((FIELD, FIELD), dtype=np.float32)
    field[top : top + new_h, left : left + new_w] = scaled
    # Quantise to 8 bits as MNIST's files are, then normalise exactly as the training data was.
    tensor = normalize(torch.from_numpy(np.round(field * 255).astype(np.uint8))).reshape(1, 1, FIELD, FIELD)
    return PreprocessedDigit(tensor=tensor, pixels=field)


def _too_many_pixels(what: str, width: int, height: int) -> str:
    return (
        f"{what} is {width:,} × {height:,} pixels ({width * height / 1e6:,.0f} megapixels); "
        f"pictures over {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels are refused"
    )


_DEEP_GREY = {"I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I;16N": 65535, "I": None}  # mode → its top value


def image_array(opened: Image) -> np.ndarray:
    """An opened PIL image → (H, W, 3) or (H, W, 4) uint8, decoded now (Image.open read only the header).

    A 16-bit grey picture is scaled by its own range, 0-65535 (PIL's convert("RGB") clips it at 255, so a
    digit anywhere above 255 read as a blank page); mode "I" (how older PIL opens 16-bit PNGs) by 65535
    when a value exceeds 255.
    """
    if opened.mode in _DEEP_GREY:
        values = np.asarray(opened).astype(np.float64)  # (H, W)
        top = _DEEP_GREY[opened.mode] or (65535.0 if values.max(initial=0.0) > 255 else 255.0)
        grey = np.round(np.clip(values, 0.0, top) * (255.0 / top)).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    has_alpha = opened.mode in ("RGBA", "LA", "PA") or "transparency" in opened.info
    return np.asarray(opened.convert("RGBA" if has_alpha else "RGB"))


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a PNG/JPEG/… file as an (H, W, 3) or (H, W, 4) uint8 array; ImageError over MAX_IMAGE_PIXELS.

    The size is read from the file's header (Image.open decodes nothing), so a small file that
    claims a huge picture is refused before any pixel is decoded.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                if opened.width * opened.height > MAX_IMAGE_PIXELS:
                    raise ImageError(_too_many_pixels(str(path), opened.width, opened.height))
                return image_array(opened)
    except FileNotFoundError:
        raise ImageError(f"no image file at {path}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{path} was refused: {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageError(f"{path} is not a readable image ({exc})") from None
