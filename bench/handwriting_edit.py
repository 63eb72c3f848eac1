"""What one edit to the handwriting folder costs: scoring a run on N digits cold, then again after one relabel
and after one new drawing (issue 27.6). Prints seconds and each as a ratio of the cold score, same run.

The digits are MNIST test digits restyled (testdata/styled_handwriting.py); the model is one epoch on 2,000
images (its quality does not matter here). Each scoring is what My digits and Runs do: read the folder
(hashing every file), decode what is not cached, score what is not cached.

    .venv/bin/python bench/handwriting_edit.py [--digits 2000]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere, without installing the package
    sys.path.insert(0, str(REPO))

from torchvision.datasets import MNIST  # noqa: E402

from resnet_mnist import RunStore, TrainConfig, run_training  # noqa: E402
from resnet_mnist.core.data import resolve_data_root  # noqa: E402
from resnet_mnist.handwriting.decoding import load_digits  # noqa: E402
from resnet_mnist.handwriting.digits import read_set, relabel_digit, save_drawing  # noqa: E402
from resnet_mnist.handwriting.scores import score_run  # noqa: E402
from testdata.styled_handwriting import make_styled_folder  # noqa: E402


def timed(run, folder: Path) -> float:
    started = time.perf_counter()
    score_run(run, read_set(folder))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=2000)
    args = parser.parse_args()
    root = resolve_data_root()
    work = Path(tempfile.mkdtemp(prefix="hw-edit-"))
    test = MNIST(str(root), train=False)
    folder = make_styled_folder(work / "hw", test.data[: args.digits].numpy(), test.targets[: args.digits].numpy())
    store = RunStore(work / "runs")
    config = TrainConfig(epochs=1, train_limit=2000, test_limit=500, device="cpu")
    recorder = store.create(config, device="cpu")
    run_training(config, recorder, data_root=str(root))
    run = store.get(recorder.run_id)

    cold = timed(run, folder)
    hset = read_set(folder)
    relabel_digit(folder, hset.digits[0].file, (hset.digits[0].label + 1) % 10)
    relabel = timed(run, folder)
    ink = load_digits(read_set(folder)).pixels[1]
    image = (255 - np.round(np.roll(ink, 2, axis=0) * 255)).astype(np.uint8)
    save_drawing(folder, np.stack([image] * 3, axis=-1), np.roll(ink, 2, axis=0), 3)
    added = timed(run, folder)
    print(f"processor: {platform.processor() or platform.machine()}; {args.digits} digits")
    print(f"cold score: {cold:.2f} s")
    print(f"after one relabel: {relabel:.2f} s  (ratio {relabel / cold:.3f})")
    print(f"after one new drawing: {added:.2f} s  (ratio {added / cold:.3f})")


if __name__ == "__main__":
    main()
