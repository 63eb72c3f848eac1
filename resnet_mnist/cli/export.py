"""`python -m resnet_mnist export RUN --format onnx --out FILE`: a run's model as a checked ONNX file."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from resnet_mnist.cli.common import add_data_root, add_runs_dir
from resnet_mnist.core.files import atomic_write_bytes
from resnet_mnist.export import EXPORT_FORMATS, ExportCheckFailed, ExportError, export_checked
from resnet_mnist.runs.checkpoint import CheckpointError, load_checkpoint
from resnet_mnist.runs.schema import dumps_json
from resnet_mnist.runs.store import RunNotFoundError, RunStore, resolve_runs_dir

__all__ = ["add_export_parser", "run_export_command"]


def add_export_parser(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser(
        "export",
        help="export a run's model as an ONNX file, checked against the checkpoint on MNIST's test set",
        description="Export a run's model (or a checkpoint file's) as an ONNX file. onnxruntime runs the file on "
        "MNIST's 10,000 test digits first; unless it gives the checkpoint's answers, log-probabilities within "
        "1e-4, no file is written. The file takes pixels 0..1 (batch, 1, 28, 28) and gives log-probabilities.",
    )
    export.add_argument("run", metavar="RUN", help="a run id in the runs folder, or a checkpoint.pt path")
    export.add_argument("--format", choices=EXPORT_FORMATS, default="onnx", help="default: %(default)s")
    export.add_argument("--out", type=Path, required=True, metavar="FILE", help="the file to write, e.g. model.onnx")
    export.add_argument("--json", action="store_true", help="print one JSON object")
    add_data_root(export)
    add_runs_dir(export)


def run_export_command(args: argparse.Namespace) -> int:
    problem = _unwritable(args.out)
    if problem:  # said before the seconds of exporting, not after
        print(f"error: cannot write {args.out}: {problem}", file=sys.stderr)
        return 1
    checkpoint_path, source = _checkpoint_of(args.run, RunStore(resolve_runs_dir(args.runs_dir)))
    checkpoint = load_checkpoint(checkpoint_path)
    started = time.perf_counter()
    try:
        exported = export_checked(checkpoint, source=source, data_root=args.data_root)
    except (ExportError, ExportCheckFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        atomic_write_bytes(args.out, exported.data)
        _make_shareable(args.out)
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    check = exported.check
    if args.json:
        print(
            dumps_json(
                {
                    "path": str(args.out),
                    "format": exported.format,
                    "bytes": len(exported.data),
                    "source": source,
                    "checkpoint": str(checkpoint_path),
                    "epoch": checkpoint.epoch,
                    "input": exported.input_name,
                    "output": exported.output_name,
                    "checked_digits": check.digits,
                    "agreement": check.agreement,
                    "max_abs_diff": check.max_abs_diff,
                    "tolerance": check.tolerance,
                    "accuracy": check.accuracy,
                    "checkpoint_accuracy": check.reference_accuracy,
                    "runtime": check.runtime,
                    "seconds": round(time.perf_counter() - started, 2),
                }
            )
        )
    else:
        print(f"Wrote {args.out} ({len(exported.data):,} bytes, ONNX) from {source}, epoch {checkpoint.epoch}.")
        print(f"Checked: {check.summary()}.")
    return 0


def _checkpoint_of(run: str, store: RunStore) -> tuple[Path, str]:
    """(checkpoint path, source label) for a run id in `store`, else a checkpoint file's path."""
    try:
        info = store.get(run)
    except RunNotFoundError:
        path = Path(run)
        if not path.is_file():
            raise CheckpointError(f"no run {run!r} in {store.root} and no checkpoint file at {run}") from None
        return path, path.name
    if not info.has_checkpoint:
        raise CheckpointError(f"run {run} has no checkpoint saved (none is written before its first epoch ends)")
    return info.checkpoint_path, run


def _make_shareable(path: Path) -> None:
    """The permissions a plain new file gets (0644 under the usual umask), not the temporary file's 0600:
    the file is meant to be copied, served and shared."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)


def _unwritable(out: Path) -> str | None:
    """Why `out` cannot be written, or None; checked again by the write itself."""
    if out.is_dir():
        return "it is a folder; give a file name such as model.onnx"
    if out.parent.exists() and not out.parent.is_dir():
        return f"{out.parent} is a file, not a folder"
    if not out.parent.is_dir():
        return f"its folder {out.parent} does not exist"
    if not os.access(out.parent, os.W_OK):
        return f"its folder {out.parent} is not writable"
    return None
