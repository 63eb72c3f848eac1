"""`python -m resnet_mnist train | evaluate | predict | sweep | teach | ...`: the package from a terminal.

The other commands (doctor, export, lr-find, compare, importance) each live in a module of their own here.

`finetune` is `teach`'s older name, kept as an alias so scripts that use it still run.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from resnet_mnist.cli.branch import GivenSwitch, GivenValue, add_branch_flags, run_branch_command, wants_branch_command
from resnet_mnist.cli.common import ProgressPrinter, add_data_root, add_runs_dir, holding_the_cores, whole_number
from resnet_mnist.cli.compare import add_compare_parser
from resnet_mnist.cli.doctor import add_doctor_parser, run_doctor_command
from resnet_mnist.cli.export import add_export_parser, run_export_command
from resnet_mnist.cli.importance import add_importance_parser
from resnet_mnist.cli.lr_find import add_lr_find_parser, run_lr_find_command
from resnet_mnist.cli.seed_group import add_seed_group_flags, group_summary, run_summary
from resnet_mnist.cli.sweep import add_sweep_parser, run_sweep_command
from resnet_mnist.cli.teach import add_teach_parser, run_teach_command
from resnet_mnist.core.config import SETTINGS, ConfigError, TrainConfig
from resnet_mnist.core.data import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE, DatasetError, load_split
from resnet_mnist.core.engine import TrainingOutcome, evaluate, run_training
from resnet_mnist.core.events import RunState, fan_out
from resnet_mnist.core.files import FileRefused
from resnet_mnist.core.precision import resolve_precision
from resnet_mnist.handwriting.decoding import load_digits
from resnet_mnist.handwriting.digits import HandwritingError, read_set
from resnet_mnist.handwriting.scores import evaluation_from, score_model
from resnet_mnist.jobs.cores import CoresBusyError
from resnet_mnist.predict.inference import predict
from resnet_mnist.predict.preprocess import ImageError, load_image, preprocess_image
from resnet_mnist.runs.branch import BranchError
from resnet_mnist.runs.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from resnet_mnist.runs.groups import new_group_id
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


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m resnet_mnist", description="Train and use the seed's small ResNet on MNIST.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train a model (the seed's recipe by default)")
    _add_setting_flags(train)
    train.add_argument("--name", default="", help="a name for the run")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--json", action="store_true", help="print one JSON object at the end (progress on stderr)")
    add_data_root(train)
    add_runs_dir(train)
    add_branch_flags(train)
    add_seed_group_flags(train)

    evaluate_cmd = commands.add_parser("evaluate", help="test a checkpoint on the MNIST test set")
    evaluate_cmd.add_argument("--checkpoint", required=True, type=Path, help="a checkpoint.pt saved by a run")
    evaluate_cmd.add_argument(
        "--test-limit", type=whole_number, metavar="N", help="test on the first N test images only (default: all)"
    )
    evaluate_cmd.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate_cmd.add_argument(
        "--handwriting", type=Path, metavar="DIR", help="test on this handwriting folder instead of MNIST's test set"
    )
    add_data_root(evaluate_cmd)
    add_teach_parser(commands)

    predict_cmd = commands.add_parser("predict", help="classify image files of digits")
    predict_cmd.add_argument(
        "images", nargs="+", type=Path, metavar="IMAGE", help="image files, a dark or light digit on a plain ground"
    )
    predict_cmd.add_argument("--checkpoint", required=True, type=Path, help="a checkpoint.pt saved by a run")
    predict_cmd.add_argument("--json", action="store_true", help="print a JSON list")

    add_sweep_parser(commands)
    add_doctor_parser(commands)
    add_export_parser(commands)
    add_lr_find_parser(commands)
    add_compare_parser(commands)
    add_importance_parser(commands)
    return parser


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field, its type, choices, default and help taken from the field's description."""
    for name, setting in SETTINGS.items():
        default = getattr(_DEFAULTS, name)
        if setting.kind is bool:  # --channels-last / --no-channels-last
            parser.add_argument(
                setting.flag,
                action=GivenSwitch,  # notes the flag was typed: a branch changes only those
                default=default,
                help=f"{setting.help} (default: {'on' if default else 'off'})",
            )
            continue
        shown = (setting.placeholder or "all") if default is None else "%(default)s"
        parser.add_argument(
            setting.flag,
            action=GivenValue,
            type=whole_number if setting.kind is int else setting.kind,
            choices=setting.choices or None,
            default=default,
            metavar="N" if setting.kind is int else None,
            help=f"{setting.help} (default: {shown})",
        )


def _train(args: argparse.Namespace) -> int:
    if wants_branch_command(args):
        return run_branch_command(args)
    config = TrainConfig(**{name: getattr(args, name) for name in SETTINGS}).validate(MNIST_TRAIN_SIZE, MNIST_TEST_SIZE)
    seeds = args.seeds  # --seeds: the recipe once per seed, as one group; None: one run with --seed
    for seed in seeds or ():  # every seed checked before the first run starts (a seed past 2**63 - 1)
        config.with_changes(seed=seed).validate(MNIST_TRAIN_SIZE, MNIST_TEST_SIZE)
    # Read the data before creating the run, so missing files are one line and no empty run folder.
    train_split = load_split(args.data_root, train=True, limit=config.train_limit)
    test_split = load_split(args.data_root, train=False, limit=config.test_limit)
    store = RunStore(resolve_runs_dir(args.runs_dir))
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():  # stdout: the JSON
        if seeds is None:
            results = [_train_one(args, store, config, (train_split, test_split))]
        else:
            group = new_group_id()
            print(f"Seed group {group}: seeds {', '.join(map(str, seeds))}", flush=True)
            results = [
                _train_one(args, store, config.with_changes(seed=seed), (train_split, test_split), group=group)
                for seed in seeds
            ]
    if args.json:
        print(dumps_json(run_summary(*results[0]) if seeds is None else group_summary(group, results)))
    failed = [outcome for _, _, outcome in results if outcome.state is RunState.FAILED]
    return 1 if failed else 0


def _train_one(
    args: argparse.Namespace, store: RunStore, config: TrainConfig, splits: tuple, *, group: str | None = None
) -> tuple[str, Path, TrainingOutcome]:
    """One run of `config`, recorded in `store` (in `group` when given), its progress on stdout."""
    from resnet_mnist.core.devices import resolve_device

    device = resolve_device(config.device)
    name = f"{args.name or group} · seed {config.seed}" if group else args.name
    recorder = store.create(config, device=str(device), name=name, extra={"group": group} if group else None)
    print(f"Run {recorder.run_id}: {_describe(config)}", flush=True)
    outcome = run_training(
        config,
        fan_out(recorder, ProgressPrinter(args.quiet)),
        device=device,
        train_split=splits[0],
        test_split=splits[1],
    )
    checkpoint = recorder.path / CHECKPOINT_FILE
    if outcome.state is RunState.FAILED:
        print(f"error: the run failed: {outcome.reason}", file=sys.stderr)
        print(f"Run folder: {recorder.path}", file=sys.stderr)
        return recorder.run_id, recorder.path, outcome
    best = f"{100 * outcome.best_accuracy:.2f}%" if outcome.best_accuracy is not None else "n/a"
    print(f"Run {outcome.state.value}; best test accuracy {best}.")
    print(f"Run folder: {recorder.path}")
    if checkpoint.is_file():
        print(f"Checkpoint: {checkpoint}")
    return recorder.run_id, recorder.path, outcome


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
    """The flag a setting is typed with: a TrainConfig field's own, or a teach option's (`holdout`)."""
    return SETTINGS[field].flag if field in SETTINGS else "--" + field.replace("_", "-")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; known failures print one line on stderr and return non-zero."""
    args = _build_parser().parse_args(argv)
    handlers = {
        "train": _train,
        "evaluate": _evaluate,
        "predict": _predict,
        "sweep": run_sweep_command,
        "doctor": run_doctor_command,
        "teach": run_teach_command,
        "finetune": run_teach_command,  # teach's older name
        "export": run_export_command,
        "lr-find": run_lr_find_command,
    }
    try:
        with holding_the_cores(args):
            return handlers.get(args.command, getattr(args, "handler", None))(args)  # compare, importance: their own
    except CoresBusyError as exc:
        print(f"error: the cores are busy: {exc}", file=sys.stderr)
        return 1
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
    except BranchError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
