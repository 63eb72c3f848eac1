"""Does the pen's width decide the answer? Stroke widths of MNIST and of canvas drawings, with and without evening.

1. MNIST's stroke widths: `box_stroke_width` of N training digits (pixels of the 20×20 box), as
   percentiles; `STROKE_WIDTH_BAND` in resnet_mnist/predict/preprocess.py comes from these.
2. Canvas drawings (testdata/canvas_digits.py: the ten digits drawn with the Draw page's thin, medium
   and thick pens, at random sizes and places): the model's accuracy per pen, how alike the thin and
   thick pens' 28×28 inputs are (median correlation of the same drawing), and their mean ink,
   each with `preprocess_image(even_strokes=False)` and with the default (evened).
3. MNIST test digits pasted onto large pictures (tests/predict/test_preprocess.py's reference): accuracy,
   not evened and evened.

    .venv/bin/python bench/stroke_width.py --checkpoint runs/<run>/checkpoint.pt [--mnist 5000] [--per-digit 10]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere, without installing the package
    sys.path.insert(0, str(REPO))

from torchvision.datasets import MNIST  # noqa: E402

from resnet_mnist import load_checkpoint  # noqa: E402
from resnet_mnist.core.data import resolve_data_root  # noqa: E402
from resnet_mnist.predict.inference import predict  # noqa: E402
from resnet_mnist.predict.preprocess import box_stroke_width, crop_ink, preprocess_image  # noqa: E402
from testdata.canvas_digits import PASTE_CANVASES, PASTE_VARIANTS, PENS, paste, render, samples  # noqa: E402


def mnist_widths(data_root: Path, count: int) -> np.ndarray:
    dataset = MNIST(str(data_root), train=True, download=False)
    index = np.random.default_rng(0).choice(len(dataset), count, replace=False)
    return np.array([box_stroke_width(crop_ink(dataset.data[i].numpy())) for i in index])


def accuracy(model, images: list[np.ndarray], labels: np.ndarray, *, even: bool) -> tuple[float, list]:
    digits = [preprocess_image(image, even_strokes=even) for image in images]
    predicted = np.array([p.digit for p in predict(model, torch.cat([d.tensor for d in digits]))])
    return float((predicted == labels).mean()), digits


def canvas_report(model, per_digit: int) -> None:
    placements = samples(per_digit)
    labels = np.array([digit for digit, *_ in placements])
    print(f"\n2. canvas drawings: {len(placements)} per pen ({per_digit} of each digit)")
    print(f"   {'':10}" + "".join(f"{name} ({pen} px)".rjust(18) for name, pen in PENS.items()) + "   thin~thick corr")
    for even in (False, True):
        fields = {}
        row = []
        for name, pen in PENS.items():
            images = [render(d, pen=pen, size=s, left=x, top=y) for d, s, x, y in placements]
            acc, digits = accuracy(model, images, labels, even=even)
            fields[name] = [d.pixels for d in digits]
            ink = np.mean([f.sum() for f in fields[name]])
            row.append(f"{100 * acc:5.1f}% ink {ink:4.0f}".rjust(18))
        thin_thick = np.median(
            [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(fields["thin"], fields["thick"], strict=True)]
        )
        print(f"   {'evened' if even else 'as drawn':10}" + "".join(row) + f"   {thin_thick:.3f}")


def pasted_report(model, data_root: Path, count: int) -> None:
    dataset = MNIST(str(data_root), train=False, download=False)
    index = np.random.default_rng(0).choice(len(dataset), count, replace=False)
    digits, labels = dataset.data[index].numpy(), dataset.targets[index].numpy()
    print(f"\n3. {count} MNIST test digits pasted onto large pictures (tests/predict/test_preprocess.py)")
    for variant in PASTE_VARIANTS:
        rng = np.random.default_rng(1)
        images = [paste(d, variant, PASTE_CANVASES[i % len(PASTE_CANVASES)], rng) for i, d in enumerate(digits)]
        plain, _ = accuracy(model, images, labels, even=False)
        evened, _ = accuracy(model, images, labels, even=True)
        print(f"   {variant:26} as pasted {100 * plain:5.1f}%   evened {100 * evened:5.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True, help="a trained run's checkpoint.pt")
    parser.add_argument("--mnist", type=int, default=5000, help="MNIST training digits to measure")
    parser.add_argument("--per-digit", type=int, default=10, help="canvas drawings of each digit, per pen")
    parser.add_argument("--pasted", type=int, default=300, help="MNIST test digits to paste")
    args = parser.parse_args()
    data_root = resolve_data_root()
    widths = mnist_widths(data_root, args.mnist)
    quantiles = (5, 10, 25, 35, 50, 65, 75, 90, 95)
    values = np.percentile(widths, quantiles)
    print(f"1. stroke width of {args.mnist} MNIST training digits, pixels of the 20×20 box:")
    print("   " + "  ".join(f"p{q} {v:.2f}" for q, v in zip(quantiles, values, strict=True)))
    model = load_checkpoint(args.checkpoint).build_model()
    canvas_report(model, args.per_digit)
    pasted_report(model, data_root, args.pasted)


if __name__ == "__main__":
    main()
