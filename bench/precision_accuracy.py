"""Does bfloat16 keep the seed's accuracy? The seed's recipe trained in fp32 and in bf16, epoch by epoch.

Each precision trains in its own process (the engine's train_epoch, the seed's lr 0.01, momentum
0.5, batch 64, seed 1 and its shuffling), both at once with one thread each, so the machine's load
hits both alike. After every epoch each model takes the test pass twice, once in fp32 and once
under bf16 autocast, so the table also says whether the test pass (and inference) may use bf16.

The verdict lines apply the acceptance rule: the bf16-trained model reaches >= 99.0% best test
accuracy and stays within 0.15 points of the fp32 model at every epoch.

    .venv/bin/python bench/precision_accuracy.py [--epochs 10] [--train-limit N] [--test-limit N] [--data-root DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere, without installing the package
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

TRAININGS = ("fp32", "bf16")
BEST_AT_LEAST = 0.990
MOST_POINTS_APART = 0.15


def child(training: str, data_root: Path, epochs: int, train_limit: int | None, test_limit: int | None) -> None:
    """Train in `training` precision; print one JSON line per epoch with both test passes."""
    from resnet_mnist.core.config import TrainConfig
    from resnet_mnist.core.data import load_split
    from resnet_mnist.core.engine import build_model, evaluate, make_optimizer, seed_shuffle_generators, train_epoch
    from resnet_mnist.core.precision import resolve_precision

    config = TrainConfig(epochs=epochs)  # the seed's recipe
    train_split = load_split(data_root, train=True, limit=train_limit)
    test_split = load_split(data_root, train=False, limit=test_limit)
    model = build_model(config.seed, "cpu", channels_last=True)
    optimizer = make_optimizer(model, config)
    shuffles = seed_shuffle_generators(config.seed, epochs)
    precisions = {name: resolve_precision(name, "cpu") for name in TRAININGS}
    step = 0
    for epoch in range(1, epochs + 1):
        trained = train_epoch(
            model,
            optimizer,
            train_split,
            epoch=epoch,
            batch_size=config.batch_size,
            log_interval=config.log_interval,
            generator=shuffles[epoch - 1],
            emit=lambda _event: None,
            step_offset=step,
            channels_last=True,
            precision=precisions[training],
        )
        step += trained.steps
        row = {"epoch": epoch, "train_loss": trained.mean_loss, "train_seconds": trained.seconds}
        for name, precision in precisions.items():
            started = time.perf_counter()
            result = evaluate(model, test_split, config.test_batch_size, channels_last=True, precision=precision)
            row[f"test_{name}"] = result.accuracy
            row[f"test_loss_{name}"] = result.loss
            row[f"test_seconds_{name}"] = time.perf_counter() - started
        print(json.dumps(row), flush=True)


def _spawn(training: str, args: argparse.Namespace) -> subprocess.Popen:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", training, "--epochs", str(args.epochs)]
    command += ["--data-root", str(args.data_root)]
    if args.train_limit:
        command += ["--train-limit", str(args.train_limit)]
    if args.test_limit:
        command += ["--test-limit", str(args.test_limit)]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)


def _table(rows: dict[str, list[dict]]) -> list[str]:
    lines = [
        "epoch | fp32 train: test fp32 | bf16 train: test fp32 | test bf16 | bf16−fp32 (points) | "
        "fp32 train, test bf16 | train s fp32 / bf16",
        "---: | ---: | ---: | ---: | ---: | ---: | ---:",
    ]
    for fp32, bf16 in zip(rows["fp32"], rows["bf16"], strict=True):
        gap = 100 * (bf16["test_bf16"] - fp32["test_fp32"])
        lines.append(
            f"{fp32['epoch']} | {100 * fp32['test_fp32']:.2f}% | {100 * bf16['test_fp32']:.2f}% | "
            f"{100 * bf16['test_bf16']:.2f}% | {gap:+.2f} | {100 * fp32['test_bf16']:.2f}% | "
            f"{fp32['train_seconds']:.1f} / {bf16['train_seconds']:.1f}"
        )
    return lines


def _verdicts(rows: dict[str, list[dict]]) -> list[str]:
    """The acceptance rule for bf16 training with a bf16 test pass, and for bf16 inference of an fp32 model."""
    fp32 = [r["test_fp32"] for r in rows["fp32"]]
    cases = {
        "bf16 training, bf16 test pass": [r["test_bf16"] for r in rows["bf16"]],
        "bf16 training, fp32 test pass": [r["test_fp32"] for r in rows["bf16"]],
        "fp32 training, bf16 test pass": [r["test_bf16"] for r in rows["fp32"]],
    }
    lines = [f"fp32: best {100 * max(fp32):.2f}%"]
    for name, accuracies in cases.items():
        worst = max(abs(a - b) for a, b in zip(accuracies, fp32, strict=True))
        ok = max(accuracies) >= BEST_AT_LEAST and worst <= MOST_POINTS_APART / 100 + 1e-12
        lines.append(
            f"{name}: best {100 * max(accuracies):.2f}%, largest gap to fp32 {100 * worst:.2f} points "
            f"-> {'ACCEPTED' if ok else 'NOT accepted'} (needs best >= {100 * BEST_AT_LEAST:.1f}% "
            f"and gap <= {MOST_POINTS_APART} at every epoch)"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=None, help="folder holding MNIST/raw/")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train-limit", type=int, default=None, help="train on the first N images (a quick check)")
    parser.add_argument("--test-limit", type=int, default=None, help="test on the first N images (a quick check)")
    parser.add_argument("--child", choices=TRAININGS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.data_root = (
        args.data_root or Path(os.environ.get("RESNET_MNIST_DATA") or REPO.parent / "shared" / "data")
    ).resolve()
    if args.child:
        child(args.child, args.data_root, args.epochs, args.train_limit, args.test_limit)
        return
    from resnet_mnist.core.precision import cpu_native_bf16

    print(f"machine: {_cpu()}; native bf16: {cpu_native_bf16() or 'none'}; torch {torch.__version__}")
    print(f"load average before: {os.getloadavg()}", flush=True)
    started = time.perf_counter()
    children = {training: _spawn(training, args) for training in TRAININGS}
    rows: dict[str, list[dict]] = {}
    for training, process in children.items():
        out, _ = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"the {training} training failed (exit {process.returncode})")
        rows[training] = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    print(f"load average after: {os.getloadavg()}; wall time {time.perf_counter() - started:.0f} s\n")
    print("\n".join(_table(rows)))
    print()
    print("\n".join(_verdicts(rows)))


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


if __name__ == "__main__":
    main()
