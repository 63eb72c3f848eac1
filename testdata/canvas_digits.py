"""Digits as the preprocessing meets them: drawn on the canvas, or MNIST's own pasted onto a picture.

`render` draws a digit as the Draw page's canvas does: a few polylines from a unit box, placed on a
280×280 canvas at a size, position and pen width, with round caps, anti-aliased (drawn 4× larger,
then reduced); it returns the RGBA array the canvas hands to the page (white pen, ink in alpha).
`paste` enlarges an MNIST digit and puts it somewhere on a large picture. Shared by
tests/predict/test_preprocess.py and bench/stroke_width.py (see testdata/__init__.py).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

CANVAS = 280
PENS = {"thin": 8, "medium": 22, "thick": 40}  # the Draw page's pen slider runs from 8 to 40


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 24) -> list[tuple]:
    """Points on an ellipse from angle `start` to `end` (radians, 0 = up, clockwise)."""
    return [
        (cx + rx * math.sin(start + (end - start) * i / n), cy - ry * math.cos(start + (end - start) * i / n))
        for i in range(n + 1)
    ]


_EIGHT = [(0.5 + 0.3 * math.sin(2 * t), 0.5 + 0.5 * math.cos(t)) for t in (2 * math.pi * i / 48 for i in range(49))]
# Each digit: strokes, each a polyline in a unit box, (0, 0) top left … (1, 1) bottom right.
STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [_arc(0.5, 0.5, 0.33, 0.5, 0, 2 * math.pi)],
    1: [[(0.4, 0.14), (0.6, 0.0), (0.58, 1.0)]],  # a 1 with a short flag
    2: [[(0.1, 0.25), (0.25, 0.05), (0.55, 0.0), (0.8, 0.1), (0.85, 0.3), (0.7, 0.5), (0.1, 1.0), (0.95, 1.0)]],
    3: [_arc(0.48, 0.25, 0.35, 0.25, -1.6, 3.0) + _arc(0.48, 0.75, 0.4, 0.25, 0.0, 4.6)],
    4: [[(0.6, 0.0), (0.05, 0.65), (0.95, 0.65)], [(0.72, 0.3), (0.72, 1.0)]],
    5: [[(0.85, 0.0), (0.2, 0.0), (0.15, 0.45)], [(0.15, 0.45), *_arc(0.48, 0.7, 0.38, 0.28, -0.9, 4.2)]],
    6: [[(0.7, 0.0), (0.35, 0.25), (0.15, 0.6)], _arc(0.5, 0.72, 0.35, 0.28, 4.2, 4.2 + 2 * math.pi)],
    7: [[(0.05, 0.05), (0.95, 0.05), (0.45, 1.0)]],
    8: [_EIGHT],
    9: [_arc(0.5, 0.28, 0.32, 0.28, math.pi / 2, math.pi / 2 - 2 * math.pi), [(0.82, 0.28), (0.75, 1.0)]],
}


def render(
    digit: int,
    *,
    pen: float,
    size: float = 0.7,
    left: float = 0.15,
    top: float = 0.15,
    strokes: dict[int, list[list[tuple[float, float]]]] | None = None,
) -> np.ndarray:
    """One digit on a clear 280×280 canvas: (280, 280, 4) uint8, white ink in alpha.

    `size`, `left` and `top` are fractions of the canvas (the digit's box, inside which strokes'
    centre lines run); `pen` is the pen's diameter in canvas pixels; `strokes` draws the digit in
    another hand (default: STROKES).
    """
    scale = 4  # draw 4× larger, then reduce: the canvas anti-aliases its strokes
    side = CANVAS * scale
    layer = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(layer)
    radius = pen * scale / 2
    for stroke in (strokes or STROKES)[digit]:
        points = [((left + u * size) * side, (top + v * size) * side) for u, v in stroke]
        draw.line(points, fill=255, width=round(pen * scale), joint="curve")
        for x, y in points:  # round caps and joins, as the canvas's pen has
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    alpha = np.asarray(layer.resize((CANVAS, CANVAS), Image.BOX))
    image = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    image[..., :3] = 255
    image[..., 3] = alpha
    return image


def samples(count_per_digit: int, seed: int = 0) -> list[tuple[int, float, float, float]]:
    """(digit, size, left, top) placements: sizes from a third to most of the canvas, anywhere on it."""
    rng = np.random.default_rng(seed)
    placements = []
    for digit in STROKES:
        for _ in range(count_per_digit):
            size = float(rng.uniform(0.35, 0.8))
            margin = 0.06  # keep the thickest pen's ink on the canvas
            left, top = (float(rng.uniform(margin, 1 - margin - size)) for _ in range(2))
            placements.append((digit, size, left, top))
    return placements


PASTE_CANVASES = [(280, 280), (300, 400), (600, 600)]  # (height, width)
PASTE_VARIANTS = ["white_on_black_rgb", "dark_on_transparent_rgba", "black_on_white_rgb"]


def paste(digit: np.ndarray, variant: str, canvas: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Upscale a 28×28 uint8 digit ×4–×10 (bilinear) and paste it somewhere off-centre on a large canvas."""
    height, width = canvas
    side = min(int(28 * rng.uniform(4, 10)), height, width)
    big = np.asarray(Image.fromarray(digit).resize((side, side), Image.BILINEAR), dtype=np.float32) / 255
    top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    ink = np.zeros((height, width), dtype=np.float32)
    ink[top : top + side, left : left + side] = big
    gray = np.round(ink * 255).astype(np.uint8)
    if variant == "white_on_black_rgb":
        return np.stack([gray] * 3, axis=-1)
    if variant == "black_on_white_rgb":
        return np.stack([255 - gray] * 3, axis=-1)
    rgba = np.zeros((height, width, 4), dtype=np.uint8)
    rgba[..., :3] = (20, 30, 60)  # a dark blue pen on a clear layer, as the canvas hands it back
    rgba[..., 3] = gray
    return rgba
