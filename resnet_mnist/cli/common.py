"""What the CLI's commands share: whole-number arguments, the MNIST folder flag and the progress printer."""

from __future__ import annotations

import argparse
import sys

from resnet_mnist.core.events import BatchLogged, EpochCompleted, EvaluationStarted, Event, StateChanged

__all__ = ["ProgressPrinter", "add_data_root", "whole_number"]


def whole_number(text: str) -> int:
    """An argparse type: an int, or one line saying the text is not a whole number."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def add_data_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", help="folder holding MNIST/raw/ (default: $RESNET_MNIST_DATA or ./data)")


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
        elif isinstance(event, StateChanged) and event.state.is_final:
            self._close_bar()

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
