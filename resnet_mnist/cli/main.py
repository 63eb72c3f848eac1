"""`python -m resnet_mnist train | evaluate | predict | sweep | finetune`: the package from a terminal."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from resnet_mnist.cli.sweep import add_sweep_parser, run_sweep_command
from resnet_mnist.core.config import SETTINGS, ConfigError, TrainConfig
from resnet_mnist.core.data import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE, DatasetError, load_split
from resnet_mnist.core.devices import DEVICE_CHOICES
from resnet_mnist.core.engine import evaluate, run_training
from resnet_mnist.core.events import (
    BatchLogged,
    EpochCompleted,
    EvaluationStarted,
    Event,
    RunState,
    StateChanged,
    fan_out,
)
from resnet_mnist.core.files import FileRefused
from resnet_mnist.core.precision import resolve_precision
from resnet_mnist.handwriting.digits import HandwritingError, load_digits, read_set
from resnet_mnist.handwriting.scores import evaluation_from, score_model
from resnet_mnist.handwriting.teach import KFOLD_BELOW, TeachReport, TeachSettings, prepare_teach
from resnet_mnist.predict.inference import predict
from resnet_mnist.predict.preprocess import ImageError, load_image, preprocess_image
from resnet_mnist.runs.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from resnet_mnist.runs.lock import RunBusyError
from resnet_mnist.runs.schema import dumps_json
from resnet_mnist.runs.store import CHECKPOINT_FILE, RunStore, resolve_runs_dir
from resnet_mnist.sweeps.ray_runtime import RayUnavailableError
from resnet_mnist.sweeps.spec import SweepError

__all__ = ["main"]

_DEFAULTS = TrainConfig()


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m resnet_mnist", description="Train and use the seed's small ResNet on MNIST.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train a model (the seed's recipe by default)")
    _add_setting_flags(train)
    train.add_argument("--name", default="", help="a name for the run")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_data_root(train)
    train.add_argument("--runs-dir", help="where runs are saved (default: $RESNET_MNIST_RUNS or ./runs)")

    evaluate_cmd = commands.add_parser("evaluate", help="test a checkpoint on the MNIST test set")
    evaluate_cmd.add_argument("--checkpoint", required=True, type=Path, help="a checkpoint.pt saved by a run")
    evaluate_cmd.add_argument(
        "--test-limit", type=_whole_number, metavar="N", help="test on the first N test images only (default: all)"
    )
    evaluate_cmd.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate_cmd.add_argument(
        "--handwriting", type=Path, metavar="DIR", help="test on this handwriting folder instead of MNIST's test set"
    )
    _add_data_root(evaluate_cmd)
    _add_finetune(commands)

    predict_cmd = commands.add_parser("predict", help="classify image files of digits")
    predict_cmd.add_argument(
        "images", nargs="+", type=Path, metavar="IMAGE", help="image files, a dark or light digit on a plain ground"
    )
    predict_cmd.add_argument("--checkpoint", required=True, type=Path, help="a checkpoint.pt saved by a run")
    predict_cmd.add_argument("--json", action="store_true", help="print a JSON list")

    add_sweep_parser(commands)
    return parser


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field, its type, choices, default and help taken from the field's description."""
    for name, setting in SETTINGS.items():
        default = getattr(_DEFAULTS, name)
        if setting.kind is bool:  # --channels-last / --no-channels-last
            parser.add_argument(
                setting.flag,
                action=argparse.BooleanOptionalAction,
                default=default,
                help=f"{setting.help} (default: {'on' if default else 'off'})",
            )
            continue
        shown = (setting.placeholder or "all") if default is None else "%(default)s"
        parser.add_argument(
            setting.flag,
            type=_whole_number if setting.kind is int else setting.kind,
            choices=setting.choices or None,
            default=default,
            metavar="N" if setting.kind is int else None,
            help=f"{setting.help} (default: {shown})",
        )


def _add_finetune(commands: argparse._SubParsersAction) -> None:
    defaults = TeachSettings()
    finetune = commands.add_parser("finetune", help="teach a trained model your handwriting, as a new run")
    finetune.add_argument("--from", dest="source", required=True, metavar="RUN", help="a run id or a checkpoint path")
    finetune.add_argument("--handwriting", type=Path, required=True, metavar="DIR", help="images + labels.csv")
    finetune.add_argument("--epochs", type=_whole_number, default=defaults.epochs, help="default: %(default)s")
    finetune.add_argument(
        "--holdout",
        type=float,
        default=defaults.holdout,
        metavar="FRACTION",
        help=f"share of each digit held out to measure on (default: %(default)s; k-fold below {KFOLD_BELOW} digits; "
        "0: train on all)",
    )
    finetune.add_argument("--lr", type=float, default=defaults.lr, help="default: %(default)s")
    finetune.add_argument("--momentum", type=float, default=defaults.momentum, help="default: %(default)s")
    finetune.add_argument(
        "--mnist-images", type=_whole_number, default=defaults.mnist_images, help="MNIST images mixed in per epoch"
    )
    finetune.add_argument("--test-limit", type=_whole_number, metavar="N", help="MNIST test images for before/after")
    finetune.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="default: %(default)s")
    finetune.add_argument("--json", action="store_true", help="print one JSON object")
    finetune.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_data_root(finetune)
    finetune.add_argument("--runs-dir", help="where runs are saved (default: $RESNET_MNIST_RUNS or ./runs)")


def _add_data_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", help="folder holding MNIST/raw/ (default: $RESNET_MNIST_DATA or ./data)")


class _ProgressPrinter:
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


def _train(args: argparse.Namespace) -> int:
    config = TrainConfig(**{name: getattr(args, name) for name in SETTINGS}).validate(MNIST_TRAIN_SIZE, MNIST_TEST_SIZE)
    from resnet_mnist.core.devices import resolve_device

    # Read the data before creating the run, so missing files are one line and no empty run folder.
    train_split = load_split(args.data_root, train=True, limit=config.train_limit)
    test_split = load_split(args.data_root, train=False, limit=config.test_limit)
    store = RunStore(resolve_runs_dir(args.runs_dir))
    device = resolve_device(config.device)
    recorder = store.create(config, device=str(device), name=args.name)
    print(f"Run {recorder.run_id}: {_describe(config)}", flush=True)
    outcome = run_training(
        config,
        fan_out(recorder, _ProgressPrinter(args.quiet)),
        device=device,
        train_split=train_split,
        test_split=test_split,
    )
    checkpoint = recorder.path / CHECKPOINT_FILE
    if outcome.state is RunState.FAILED:
        print(f"error: the run failed: {outcome.reason}", file=sys.stderr)
        print(f"Run folder: {recorder.path}", file=sys.stderr)
        return 1
    best = f"{100 * outcome.best_accuracy:.2f}%" if outcome.best_accuracy is not None else "n/a"
    print(f"Run {outcome.state.value}; best test accuracy {best}.")
    print(f"Run folder: {recorder.path}")
    if checkpoint.is_file():
        print(f"Checkpoint: {checkpoint}")
    return 0


def _describe(config: TrainConfig) -> str:
    return (
        f"epochs={config.epochs} lr={config.lr} momentum={config.momentum} batch_size={config.batch_size} "
        f"seed={config.seed} device={config.device}"
    )


def _evaluate(args: argparse.Namespace) -> int:
    checkpoint = load_checkpoint(args.checkpoint)
    if args.handwriting is not None:
        return _evaluate_handwriting(args, checkpoint)
    test = load_split(args.data_root, train=False, limit=args.test_limit)
    precision = resolve_precision(checkpoint.config.precision, "cpu")  # the run's own, as it recorded its accuracy
    result = evaluate(checkpoint.build_model(), test, checkpoint.config.test_batch_size, precision=precision)
    assert result is not None  # no control, so it cannot be stopped
    if args.json:
        print(
            dumps_json(
                {
                    "checkpoint": str(args.checkpoint),
                    "accuracy": result.accuracy,
                    "loss": result.loss,
                    "correct": result.correct,
                    "total": result.total,
                }
            )
        )
    else:
        print(
            f"Test set: Average loss: {result.loss:.4f}, "
            f"Accuracy: {result.correct}/{result.total} ({100 * result.accuracy:.2f}%)"
        )
    return 0


def _evaluate_handwriting(args: argparse.Namespace, checkpoint: Checkpoint) -> int:
    hset = read_set(args.handwriting)
    data = load_digits(hset)
    result = evaluation_from(
        score_model(checkpoint.build_model(), data, checkpoint.config.precision),
        data.split.labels,
        run_id="",
        epoch=checkpoint.epoch,
    )
    mistakes = [
        {"file": hset.digits[m.index].file, "label": m.true, "predicted": m.predicted, "confidence": m.confidence}
        for m in result.misclassified
    ]
    if args.json:
        summary = {"checkpoint": str(args.checkpoint), "handwriting": str(args.handwriting)}
        print(
            dumps_json(
                {
                    **summary,
                    "accuracy": result.accuracy,
                    "correct": result.correct,
                    "total": result.total,
                    "mistakes": mistakes,
                }
            )
        )
        return 0
    print(f"Handwriting {args.handwriting}: Accuracy: {result.correct}/{result.total} ({100 * result.accuracy:.2f}%)")
    for mistake in mistakes:
        print(
            f"  {mistake['file']}: a {mistake['label']} read as {mistake['predicted']} "
            f"({100 * mistake['confidence']:.1f}%)"
        )
    return 0


def _finetune(args: argparse.Namespace) -> int:
    from resnet_mnist.core.devices import resolve_device

    settings = TeachSettings(
        epochs=args.epochs,
        holdout=args.holdout,
        lr=args.lr,
        momentum=args.momentum,
        mnist_images=args.mnist_images,
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
        f"Run {recorder.run_id}: fine-tuning {args.source} on {args.handwriting}; {job.plan.describe()}",
        file=log,
        flush=True,
    )
    listeners = [recorder] if args.json else [recorder, _ProgressPrinter(args.quiet)]  # --json: stdout is one object
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


def _predict(args: argparse.Namespace) -> int:
    model = load_checkpoint(args.checkpoint).build_model()
    results = []
    for path in args.images:
        digit = preprocess_image(load_image(path))
        if digit is None:
            results.append({"path": str(path), "digit": None, "probabilities": None, "empty": True})
            continue
        prediction = predict(model, digit.tensor)[0]
        results.append(
            {
                "path": str(path),
                "digit": prediction.digit,
                "confidence": prediction.confidence,
                "probabilities": list(prediction.probabilities),
            }
        )
    if args.json:
        print(dumps_json(results))
    else:
        for result in results:
            if result["digit"] is None:
                print(f"{result['path']}: no digit found (the image is blank)")
            else:
                print(f"{result['path']}: {result['digit']} ({100 * result['confidence']:.1f}%)")
    return 0


def _flag(field: str) -> str:
    """The flag a setting is typed with: a TrainConfig field's own, or a finetune option's (`holdout`)."""
    return SETTINGS[field].flag if field in SETTINGS else "--" + field.replace("_", "-")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; known failures print one line on stderr and return non-zero."""
    args = _build_parser().parse_args(argv)
    handlers = {
        "train": _train,
        "evaluate": _evaluate,
        "predict": _predict,
        "sweep": run_sweep_command,
        "finetune": _finetune,
    }
    try:
        return handlers[args.command](args)
    except SweepError as exc:
        print(f"error: invalid sweep: {exc}", file=sys.stderr)
        return 2
    except RayUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        # Named by flag, as the user typed them: "--batch-size: must be at most 100 (got 200)".
        named = "; ".join(f"{_flag(p.field)}: {p.message}" for p in exc.problems)
        print(f"error: invalid settings: {named}", file=sys.stderr)
        return 2
    except (DatasetError, CheckpointError, ImageError, HandwritingError, FileRefused, RunBusyError, OSError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
