"""A handwriting folder made from MNIST digits drawn in another hand: thick, slanted, dark on light, off-centre.

Real digits (MNIST's test set, from the end, so the MNIST test images used for accuracy never
overlap), restyled the way a person's pen and paper differ from MNIST's: strokes thickened, the
digit slanted, dark ink on light paper, and placed off-centre on a larger canvas.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

CANVAS = (240, 320)  # (height, width): a landscape photo-like page, larger than the 280×280 canvas


def restyle(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(28, 28) uint8 MNIST digit → (240, 320, 3) uint8 picture in the other hand."""
    big = Image.fromarray(np.asarray(digit, dtype=np.uint8)).resize((112, 112), Image.BILINEAR)
    big = big.filter(ImageFilter.MaxFilter(7))  # a thicker pen
    shear = 0.45  # forward slant: the top leans right
    # PIL's AFFINE maps each output (x, y) to input (x + shear·y − shift, y).
    slanted = big.transform((152, 112), Image.AFFINE, (1, shear, -shear * 112, 0, 1, 0), Image.BILINEAR)
    page = Image.new("L", (CANVAS[1], CANVAS[0]), 0)
    left = int(rng.integers(0, CANVAS[1] - slanted.width))
    top = int(rng.integers(0, CANVAS[0] - slanted.height))
    page.paste(slanted, (left, top))
    ink = np.asarray(page, dtype=np.float32) / 255.0
    paper, pen = 235.0, 30.0  # dark ink on light paper
    gray = paper - (paper - pen) * ink
    return np.repeat(np.clip(gray, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)


def make_styled_folder(root: Path, digits: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> Path:
    """Write each digit restyled as a PNG plus labels.csv; returns `root`."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i, (digit, label) in enumerate(zip(digits, labels, strict=True)):
        name = f"page-{i:04d}.png"
        Image.fromarray(restyle(np.asarray(digit), rng)).save(root / name)
        rows.append((name, int(label)))
    with (root / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("file", "label"))
        writer.writerows(rows)
    return root
