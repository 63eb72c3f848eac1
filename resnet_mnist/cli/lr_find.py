"""`python -m resnet_mnist lr-find`: the learning-rate range test from a terminal (core/lr_find.py)."""

from __future__ import annotations

import argparse
import sys

from resnet_mnist.cli.common import add_data_root, whole_number
from resnet_mnist.core.data import MNIST_TRAIN_SIZE, load_split
from resnet_mnist.core.lr_find import LrFindError, LrFindResult, LrFindSettings, LrFindStep, find_lr
from resnet_mnist.runs.schema import dumps_json

__all__ = ["DEFAULT_IMAGES", "add_lr_find_parser", "run_lr_find_command"]

DEFAULT_IMAGES = 6_000  # the ramp reads at most steps x batch size x repeats images; more adds nothing


def add_lr_find_parser(commands: argparse._SubParsersAction) -> None:
    defaults = LrFindSettings()
    command = commands.add_parser(
        "lr-find",
        help="suggest a learning rate: the loss while the lr rises from 1e-4 to 10 (a range test)",
        description="Run Leslie Smith's learning-rate range test on the seed's network and suggest an lr: "
        f"{defaults.repeats} short ramps of at most {defaults.steps} batches each, the middle of the loss's valley.",
    )
    command.add_argument(
        "--train-limit",
        type=whole_number,
        default=DEFAULT_IMAGES,
        metavar="N",
        help=f"the first N training images (default: %(default)s; at most {MNIST_TRAIN_SIZE:,})",
    )
    command.add_argument("--momentum", type=float, default=defaults.momentum, help="default: %(default)s")
    command.add_argument(
        "--batch-size", type=whole_number, default=defaults.batch_size, metavar="N", help="default: %(default)s"
    )
    command.add_argument("--seed", type=whole_number, default=defaults.seed, metavar="N", help="default: %(default)s")
    command.add_argument("--json", action="store_true", help="print one JSON object")
    add_data_root(command)


def run_lr_find_command(args: argparse.Namespace) -> int:
    if not 1 <= args.train_limit <= MNIST_TRAIN_SIZE:
        limit = args.train_limit
        print(f"error: --train-limit must be between 1 and {MNIST_TRAIN_SIZE:,} (got {limit})", file=sys.stderr)
        return 2
    settings = LrFindSettings(momentum=args.momentum, batch_size=args.batch_size, seed=args.seed)
    problems = settings.problems(args.train_limit)  # before reading MNIST: a bad flag is told at once
    if problems:
        print(f"error: invalid settings: {'; '.join(problems)}", file=sys.stderr)
        return 2
    split = load_split(args.data_root, train=True, limit=args.train_limit)
    try:
        result = find_lr(split, settings, emit=None if args.json else _Dots())
    except LrFindError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(dumps_json(result.as_dict()) if args.json else _summary(result))
    return 0


class _Dots:
    """A dot on stderr every tenth step, a line per repeat: something moves while it runs."""

    def __call__(self, step: LrFindStep) -> None:
        if step.step == 0:
            print(f"{chr(10) if step.repeat else ''}ramp {step.repeat + 1}/{step.repeats} ", end="", file=sys.stderr)
        elif step.step % 10 == 0:
            print(".", end="", file=sys.stderr, flush=True)


def _summary(result: LrFindResult) -> str:
    diverged = f"diverged at lr {result.diverged_at:.3g}" if result.diverged_at is not None else "never diverged"
    each = ", ".join(f"{lr:.3g}" for lr in result.repeat_suggestions)
    return (
        f"\nSuggested lr: {result.suggested_lr:.3g} (range {result.low:.3g} .. {result.high:.3g}; "
        f"each ramp's pick: {each}); the loss {diverged}.\n"
        f"{result.steps} batches in {result.seconds:.1f}s. Train with: --lr {result.suggested_lr:.3g}"
    )
