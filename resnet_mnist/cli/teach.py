"""`python -m resnet_mnist teach` (also `finetune`, its older name): teach a trained model a handwriting folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from resnet_mnist.cli.common import ProgressPrinter, add_data_root, add_runs_dir, whole_number
from resnet_mnist.core.devices import DEVICE_CHOICES
from resnet_mnist.core.events import RunState, fan_out
from resnet_mnist.handwriting.digits import read_set
from resnet_mnist.handwriting.teach import KFOLD_BELOW, TeachReport, TeachSettings, prepare_teach
from resnet_mnist.runs.schema import dumps_json
from resnet_mnist.runs.store import CHECKPOINT_FILE, RunStore, resolve_runs_dir

__all__ = ["add_teach_parser", "run_teach_command"]


def add_teach_parser(commands: argparse._SubParsersAction) -> None:
    defaults = TeachSettings()
    teach = commands.add_parser(
        "teach",
        aliases=["finetune"],
        help="teach a trained model your handwriting, as a new run (finetune: its older name)",
        description="Teach a trained model your handwriting: a new run branched from it. "
        "'finetune' is the same command under its older name.",
    )
    teach.add_argument("--from", dest="source", required=True, metavar="RUN", help="a run id or a checkpoint path")
    teach.add_argument("--handwriting", type=Path, required=True, metavar="DIR", help="images + labels.csv")
    teach.add_argument("--epochs", type=whole_number, default=defaults.epochs, help="default: %(default)s")
    teach.add_argument(
        "--holdout",
        type=float,
        default=defaults.holdout,
        metavar="FRACTION",
        help=f"share of each digit held out to measure on (default: %(default)s; k-fold below {KFOLD_BELOW} digits; "
        "0: train on all)",
    )
    teach.add_argument("--lr", type=float, help="default: half the parent's own")
    teach.add_argument("--momentum", type=float, help="default: the parent's own")
    teach.add_argument(
        "--mnist-images",
        type=whole_number,
        default=defaults.mnist_images,
        help="MNIST images mixed in per epoch (default: %(default)s)",
    )
    teach.add_argument(
        "--distill",
        type=float,
        default=defaults.distill,
        metavar="WEIGHT",
        help="weight of the parent's answers on replayed MNIST images beside the labels' loss, so MNIST is not "
        "forgotten (default: %(default)s; 0: off)",
    )
    teach.add_argument(
        "--replay",
        type=whole_number,
        default=defaults.replay,
        metavar="N",
        help="MNIST training images drawn each step to keep the parent's answers on (default: %(default)s; 0: none)",
    )
    teach.add_argument(
        "--keep-last",
        action="store_true",
        help="keep the last epoch as the new model (default: the epoch that reads 1,000 held-out MNIST training "
        "images best, so a last epoch that forgot MNIST is not kept)",
    )
    teach.add_argument("--test-limit", type=whole_number, metavar="N", help="MNIST test images for before/after")
    teach.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="default: %(default)s")
    teach.add_argument("--json", action="store_true", help="print one JSON object")
    teach.add_argument("--quiet", action="store_true", help="no progress bar")
    add_data_root(teach)
    add_runs_dir(teach)


def run_teach_command(args: argparse.Namespace) -> int:
    from resnet_mnist.core.devices import resolve_device

    settings = TeachSettings(
        epochs=args.epochs,
        holdout=args.holdout,
        lr=args.lr,
        momentum=args.momentum,
        mnist_images=args.mnist_images,
        distill=args.distill,
        replay=args.replay,
        keep_best=not args.keep_last,
        test_limit=args.test_limit,
        device=args.device,
    )
    store = RunStore(resolve_runs_dir(args.runs_dir))
    # Every input is checked (settings, parent, folder, images, MNIST) before the run folder exists.
    job = prepare_teach(
        args.source, read_set(args.handwriting), store=store, settings=settings, data_root=args.data_root
    )
    recorder = store.create(
        job.config, device=str(resolve_device(job.config.device)), name=job.name, extra=job.run_fields()
    )
    log = sys.stderr if args.json else sys.stdout
    print(
        f"Run {recorder.run_id}: teaching {args.source} the handwriting in {args.handwriting}; {job.plan.describe()}",
        file=log,
        flush=True,
    )
    listeners = [recorder] if args.json else [recorder, ProgressPrinter(args.quiet)]  # --json: stdout is one object
    report = job.execute(fan_out(*listeners), annotate=recorder.annotate)
    checkpoint = recorder.path / CHECKPOINT_FILE
    if args.json:
        print(
            dumps_json(
                {
                    "run": recorder.run_id,
                    "run_dir": str(recorder.path),
                    "checkpoint": str(checkpoint) if checkpoint.is_file() else None,
                    "parent": job.parent,
                    **report.to_dict(),
                }
            )
        )
    else:
        _print_report(report)
        print(f"Run folder: {recorder.path}")
        if checkpoint.is_file():
            print(f"Checkpoint: {checkpoint}")
    return 1 if report.state == RunState.FAILED.value else 0


def _print_report(report: TeachReport) -> None:
    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.2f}%"

    if report.reason:
        print(f"Run {report.state}: {report.reason}")
    measured = {"fixed": f"{report.held_out} held-out digits", "kfold": f"{report.held_out} digits, k-fold"}
    if report.method != "none":
        print(
            f"Your handwriting ({measured[report.method]}): before {pct(report.handwriting_before)}, "
            f"after {pct(report.handwriting_after)}"
        )
    print(
        f"MNIST test set ({report.mnist_total:,} images): before {pct(report.mnist_before)}, "
        f"after {pct(report.mnist_after)}"
    )
    if report.kept_note:
        print(report.kept_note)
    if report.warning:
        print(f"Warning: {report.warning}")
