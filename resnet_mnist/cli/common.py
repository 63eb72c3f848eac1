"""What the CLI's commands share: whole-number arguments, the MNIST folder flag, the progress printer
and the claim on the machine's cores."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

from resnet_mnist.core.events import BatchLogged, EpochCompleted, EvaluationStarted, Event, Measuring, StateChanged
from resnet_mnist.jobs.cores import CoreClaim, default_lock_path
from resnet_mnist.sweeps.ray_runtime import resolve_ray_address

__all__ = ["ProgressPrinter", "add_data_root", "add_runs_dir", "holding_the_cores", "whole_number"]


def whole_number(text: str) -> int:
    """An argparse type: an int, or one line saying the text is not a whole number."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def add_data_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", help="folder holding MNIST/raw/ (default: $RESNET_MNIST_DATA or ./data)")


def add_runs_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", help="where runs are saved (default: $RESNET_MNIST_RUNS or ./runs)")


TRAINS_HERE = {"train", "teach", "finetune", "sweep", "lr-find"}  # the commands whose work runs on this machine's cores


@contextlib.contextmanager
def holding_the_cores(args: argparse.Namespace) -> Iterator[None]:
    """Claim the machine's cores for a command that trains here (CoresBusyError while a dashboard's job, a
    sweep or another command has them); a sweep on a cluster's address trains there and claims nothing."""
    if args.command not in TRAINS_HERE or (args.command == "sweep" and resolve_ray_address(args.address)):
        yield
        return
    claim = CoreClaim(default_lock_path())
    holder = f"cli {args.command}"
    claim.claim(
        holder,
        f"A command-line `{args.command}` (python -m resnet_mnist) is training on this machine's cores; "
        "wait for it to end, or stop it with Ctrl-C in its terminal.",
    )
    try:
        yield
    finally:
        claim.release(holder)


class ProgressPrinter:
    """Turns engine events into a per-epoch progress bar and the seed's test lines."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self._bar = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, BatchLogged) and not self.quiet:
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(
                    total=event.batches_per_epoch,
                    desc=f"Epoch {event.epoch}",
                    unit="batch",
                    file=sys.stderr,
                    leave=False,
                    dynamic_ncols=True,
                )
            self._bar.update(event.batch - self._bar.n)
            self._bar.set_postfix(loss=f"{event.loss:.4f}", img_s=f"{event.images_per_second:.0f}")
        elif isinstance(event, EvaluationStarted):
            self._close_bar()
        elif isinstance(event, EpochCompleted):
            print(
                f"Epoch {event.epoch}: train loss {event.train_loss:.4f}, "
                f"{event.images_per_second:.0f} images/s, {event.train_seconds:.1f}s | "
                f"Test set: Average loss: {event.test_loss:.4f}, "
                f"Accuracy: {event.correct}/{event.total} ({100 * event.test_accuracy:.2f}%)",
                flush=True,
            )
        elif isinstance(event, Measuring):
            print(f"Measuring ({event.done + 1}/{event.total}): {event.what}", flush=True)
        elif isinstance(event, StateChanged) and event.state.is_final:
            self._close_bar()

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
