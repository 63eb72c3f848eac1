"""Teach without forgetting: which way of teaching gains most on a new hand and loses least on MNIST?

For each parent (PARENTS: the tests' session model and the seed's recipe for 1 and 10 epochs, trained
here on the CPU in its 'auto' precision) and each handwriting set, every method (METHODS: TeachSettings
changes, a weight pull, early stopping) teaches the parent through the engine as TeachJob does (its
split, mix, loss term and lr shares) and is measured on the held-out half of the set and on MNIST's
first 9,600 test images (the styled set is made from the last 400, so they never overlap). Two sets
that differ in style:

- styled: MNIST digits in another hand (testdata/styled_handwriting.py, the tests' set);
- canvas: the ten digits drawn as on the Draw page's canvas (testdata/canvas_digits.py) in another hand
  (CONTINENTAL), widened, slanted and turned up to 30 degrees, with any pen from thin to thick.

Each row is the mean over `--seeds` runs (the seed picks the MNIST images mixed in and replayed, and
the batch order), each run's own gain/change after it. Early stopping keeps the epoch whose accuracy
on 1,000 MNIST training images kept out of everything else is best (with --epochs above 1).

    .venv/bin/python bench/teach_methods.py --work /tmp/teach-bench [--parents test,seed1,seed10]
        [--sets styled,canvas] [--methods "default;mix;lwf=2 rep=256"] [--epochs 1] [--seeds 2]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere, without installing the package
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torchvision.datasets import MNIST  # noqa: E402

from resnet_mnist import RunStore, TrainConfig, load_checkpoint, run_training  # noqa: E402
from resnet_mnist.core.data import MnistSplit, load_split, resolve_data_root  # noqa: E402
from resnet_mnist.core.engine import LossTerm  # noqa: E402
from resnet_mnist.core.events import EpochCompleted, Event, fan_out  # noqa: E402
from resnet_mnist.core.measure import evaluate  # noqa: E402
from resnet_mnist.core.model import Net  # noqa: E402
from resnet_mnist.core.precision import resolve_precision  # noqa: E402
from resnet_mnist.handwriting.best_epoch import WATCH_IMAGES  # noqa: E402
from resnet_mnist.handwriting.digits import read_set  # noqa: E402
from resnet_mnist.handwriting.retain import ParentPull  # noqa: E402
from resnet_mnist.handwriting.teach import TeachJob, TeachSettings, prepare_teach  # noqa: E402
from testdata.canvas_digits import STROKES, _arc, render, samples  # noqa: E402
from testdata.styled_handwriting import make_styled_folder  # noqa: E402

SET_SIZE = 400  # digits per handwriting set: 40 of each
MNIST_MEASURE = 9_600  # MNIST's first test images (the styled set is made from the last 400)
SLICE = 1_000  # MNIST training images kept out of the mix, for early stopping


# A row's text, e.g. "lwf=0.5 rep=64": TeachSettings changes from teach as it was ("mix": lr 0.01, momentum
# 0.9, a quarter of each epoch handwriting, the rest MNIST, plain NLL). share: the handwriting's share;
# mnist: MNIST images mixed in; lr, momentum ("parent": the parent's own); lwf: distill (the weight of the
# parent's answers on replayed MNIST); rep: replay (MNIST images drawn each step to keep them on); early:
# early_lr (the first conv's and residual block's share of the lr); temp: the distillation's temperature;
# lrx: lr_share (the share of the parent's own lr, where lr is not given); keep: keep_best (0: the last epoch);
# l2: a pull toward the parent's weights; stop: early stopping on the bench's own held-out MNIST slice.
# "default": TeachSettings() as shipped.
SETTING_KEYS = {
    "share": "handwriting_share",
    "mnist": "mnist_images",
    "lr": "lr",
    "momentum": "momentum",
    "lwf": "distill",
    "rep": "replay",
    "early": "early_lr",
    "temp": "temperature",
    "lrx": "lr_share",
    "keep": "keep_best",
}
AS_IT_WAS = {
    "lr": 0.01,
    "momentum": 0.9,
    "handwriting_share": 0.25,
    "distill": 0.0,
    "replay": 0,
    "early_lr": 1.0,
    "keep_best": False,
}
METHODS = [
    "mix",
    "share=0.125",
    "lwf=0.5",
    "l2=0.1",
    "early=0.1",
    "lr=parent momentum=parent",
    "default",
    "default early=1",
    "default rep=0",
]


@dataclass(frozen=True)
class Method:
    """A way to teach, read from its row's text: TeachSettings changes, a weight pull, early stopping."""

    name: str
    changes: dict[str, float | str]
    weight_pull: float = 0.0
    early_stop: bool = False

    @classmethod
    def parse(cls, text: str) -> Method:
        words = text.split()
        parts = dict(word.partition("=")[::2] for word in words if word not in ("mix", "default"))
        changes = {} if "default" in words else dict(AS_IT_WAS)
        for key, value in parts.items():
            if key in SETTING_KEYS:
                kind = {"mnist": int, "rep": int, "keep": lambda v: v not in ("0", "no")}.get(key, float)
                changes[SETTING_KEYS[key]] = value if value == "parent" else kind(value)
        return cls(text, changes, float(parts.get("l2", 0)), "stop" in parts)

    def term(self, job: TeachJob) -> LossTerm | None:
        """The job's own loss term (retain.ParentPull from its settings), with the weight pull when asked."""
        if not self.weight_pull:
            return job.loss_term()
        return ParentPull(
            job.initial_state,
            distill=job.settings.distill,
            replay=job.replay_pool,
            replay_batch=job.settings.replay,
            temperature=job.settings.temperature,
            weight_pull=self.weight_pull,
            seed=job.config.seed,
        )


# Another hand on the canvas: a slashed 0, a 1 with a flag and a foot, a flat-topped 3, a closed 4, a
# crossed 7, an 8 of two rings and a 9 with a curled tail; 2, 5 and 6 as testdata draws them.
CONTINENTAL = {
    **STROKES,
    0: [_arc(0.5, 0.5, 0.33, 0.5, 0, 2 * 3.1416), [(0.8, 0.1), (0.2, 0.9)]],
    1: [[(0.25, 0.3), (0.6, 0.0), (0.6, 1.0)], [(0.3, 1.0), (0.9, 1.0)]],
    3: [[(0.1, 0.0), (0.85, 0.0), (0.4, 0.4)], _arc(0.48, 0.7, 0.4, 0.3, -0.6, 4.4)],
    4: [[(0.65, 0.0), (0.05, 0.65), (0.95, 0.65)], [(0.65, 0.0), (0.65, 1.0)]],
    7: [[(0.05, 0.05), (0.95, 0.05), (0.45, 1.0)], [(0.3, 0.5), (0.9, 0.5)]],
    8: [_arc(0.5, 0.25, 0.25, 0.25, 0, 2 * 3.1416), _arc(0.5, 0.75, 0.3, 0.25, 0, 2 * 3.1416)],
    9: [_arc(0.5, 0.28, 0.32, 0.28, 1.5708, 1.5708 - 2 * 3.1416), [(0.82, 0.28), (0.8, 0.8), (0.6, 1.0), (0.3, 0.95)]],
}


def canvas_folder(root: Path, per_digit: int, seed: int = 0) -> Path:
    """Digits drawn on the canvas in CONTINENTAL's hand, wide (×1.67), slanted ±0.5 and turned ±30°; any pen
    8–40 px, size and place. The 1-epoch parent reads 73% of them (the upright hand: 98.5%)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i, (digit, size, left, top) in enumerate(samples(per_digit, seed)):
        drawn = Image.fromarray(
            render(digit, pen=float(rng.uniform(8, 40)), size=size, left=left, top=top, strokes=CONTINENTAL), "RGBA"
        )
        shear = float(rng.uniform(-0.5, 0.5))
        # AFFINE maps each output (x, y) to input (a·x + b·y + c, y): slanted, then widened, about the middle.
        slanted = drawn.transform(drawn.size, Image.AFFINE, (1, shear, -shear * 140, 0, 1, 0), Image.BILINEAR)
        wide = slanted.transform(drawn.size, Image.AFFINE, (0.6, 0, 140 * 0.4, 0, 1, 0), Image.BILINEAR)
        turned = wide.rotate(float(rng.uniform(-30, 30)), Image.BILINEAR)
        name = f"canvas-{i:04d}.png"
        turned.save(root / name)
        rows.append((name, digit))
    with (root / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("file", "label"))
        writer.writerows(rows)
    return root


def make_sets(work: Path, data_root: Path, names: list[str]) -> dict[str, Path]:
    folders = {}
    for name in names:
        folder = work / "sets" / name
        if not (folder / "labels.csv").is_file():
            if name == "styled":
                test = MNIST(str(data_root), train=False)
                digits, labels = test.data[-SET_SIZE:].numpy(), test.targets[-SET_SIZE:].numpy()
                make_styled_folder(folder, digits, labels)
            else:
                canvas_folder(folder, SET_SIZE // 10)
        folders[name] = folder
    return folders


# Parents, trained on the CPU in its 'auto' precision on 2 threads (the thread count changes the model:
# sums are added in another order and 938 steps later it is another one; the 1-epoch 'test' parent
# reads the styled set 82% on 2 threads, 72% on 1). test: tests/conftest.py's session model;
# seed1 and seed10: the seed's recipe (the Train page's defaults) for 1 and 10 epochs.
PARENTS = {
    "test": TrainConfig(epochs=1, lr=0.05, momentum=0.9, device="cpu", threads=2),
    "seed1": TrainConfig(epochs=1, device="cpu", threads=2),
    "seed10": TrainConfig(epochs=10, device="cpu", threads=2),
}


def parent_run(store: RunStore, name: str, data_root: Path) -> str:
    """The id of the parent `name` (of PARENTS), trained now unless the work folder has it."""
    for run in store.runs():
        if run.name == name and run.state.value == "finished":
            return run.id
    config = PARENTS[name]
    recorder = store.create(config, device="cpu", name=name)
    started = time.perf_counter()
    outcome = run_training(config, fan_out(recorder), data_root=str(data_root))
    assert outcome.state.value == "finished", outcome.reason
    print(f"trained {name} in {time.perf_counter() - started:.0f} s: {outcome.final_accuracy:.4f}", flush=True)
    return recorder.run_id


def _accuracy(state: dict[str, torch.Tensor], precision: str, split: MnistSplit) -> float:
    model = Net()
    model.load_state_dict(state)
    result = evaluate(model.eval(), split, 1000, precision=resolve_precision(precision, "cpu"))
    assert result is not None
    return result.accuracy


def fine_tune(job: TeachJob, method: Method, held: MnistSplit, mnist_slice: MnistSplit) -> tuple[float, float] | None:
    """(held-out handwriting accuracy, MNIST accuracy) after one fine-tune of `job`'s parent by `method`;
    None when it diverged."""
    states: list[dict[str, torch.Tensor]] = []

    def keep(event: Event) -> None:
        if isinstance(event, EpochCompleted):
            states.append(event.model_state)

    outcome = run_training(
        job.config.with_changes(test_limit=None),
        keep,
        train_split=job.training_split(job.plan.train),
        test_split=mnist_slice,
        initial_state=job.initial_state,
        loss_term=method.term(job),
        lr_scales=job.lr_scales(),
    )
    if outcome.state.value != "finished":
        print(f"  {method.name}: {outcome.reason}", flush=True)
        return None
    precision = job.config.precision
    if method.early_stop:  # the epoch that kept MNIST best, judged on images neither trained nor tested on
        states = [max(states, key=lambda s: _accuracy(s, precision, mnist_slice))]
    elif job.settings.keep_best and job.watch is not None and len(states) > 1:  # as TeachJob keeps it
        scores = [_accuracy(s, precision, job.watch) for s in states]
        states = [states[scores.index(max(scores))]]
    return _accuracy(states[-1], precision, held), _accuracy(states[-1], precision, job.mnist_test)


def measure(store: RunStore, parent: str, folder: Path, method: Method, args: argparse.Namespace) -> list[tuple]:
    """(handwriting before, after, MNIST before, after) for each seed."""
    hset = read_set(folder)
    recipe = load_checkpoint(store.get(parent).checkpoint_path).config  # "parent": the parent's own recipe
    changes = {k: getattr(recipe, k) if v == "parent" else v for k, v in method.changes.items()}
    results = []
    for seed in range(1, args.seeds + 1):
        settings = TeachSettings(
            **{
                "epochs": args.epochs,
                "holdout": args.holdout,
                "mnist_images": args.mnist_images,
                "test_limit": MNIST_MEASURE,
                "device": "cpu",
                **changes,
            }
        )
        job = prepare_teach(parent, hset, store=store, settings=settings, data_root=args.data_root)
        job = _reseeded(job, seed, args.data_root)
        held = job.held_out_split(job.plan.held_out)
        before = _before(parent, job, held)
        after = fine_tune(job, method, held, _mnist_slice(job, args.data_root))
        results.append((before[0], after[0], before[1], after[1]) if after else None)
    return results


_befores: dict[tuple[str, int], tuple[float, float]] = {}


def _before(parent: str, job: TeachJob, held: MnistSplit) -> tuple[float, float]:
    """The parent's (held-out handwriting, MNIST) accuracy, once per parent and set."""
    key = (parent, len(held), int(held.labels.sum()))
    if key not in _befores:
        precision = job.config.precision
        _befores[key] = (
            _accuracy(job.initial_state, precision, held),
            _accuracy(job.initial_state, precision, job.mnist_test),
        )
    return _befores[key]


def _reseeded(job: TeachJob, seed: int, data_root: Path) -> TeachJob:
    """`job` with its shuffling, its MNIST mix and its replays drawn from `seed` (the parent's seed is 1), none
    from the early-stop slice."""
    train = load_split(data_root, train=True).head(60_000 - WATCH_IMAGES)  # never TeachJob's watch slice
    rest = _kept_out_order(seed)[SLICE:]
    mix = MnistSplit(train.images[rest[: job.settings.mnist_images]], train.labels[rest[: job.settings.mnist_images]])
    pool = MnistSplit(train.images[rest], train.labels[rest])
    return replace(job, config=job.config.with_changes(seed=seed), mnist_mix=mix, replay_pool=pool)


def _kept_out_order(seed: int) -> torch.Tensor:
    """MNIST's training images but TeachJob's watch slice, in an order drawn from `seed`: the first SLICE are the
    early-stop slice."""
    return torch.randperm(60_000 - WATCH_IMAGES, generator=torch.Generator().manual_seed(seed))


def _mnist_slice(job: TeachJob, data_root: Path) -> MnistSplit:
    train = load_split(data_root, train=True)
    order = _kept_out_order(job.config.seed)
    return MnistSplit(train.images[order[:SLICE]], train.labels[order[:SLICE]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="parents and sets are kept here between runs")
    parser.add_argument("--parents", default="test,seed1,seed10", help=f"of {', '.join(PARENTS)} (default: all)")
    parser.add_argument("--sets", default="styled,canvas")
    parser.add_argument("--methods", default=";".join(METHODS), help="rows, ';'-separated (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=1, help="fine-tune epochs (default: 1, as the test)")
    parser.add_argument("--holdout", type=float, default=0.5, help="held-out share (default: 0.5, as the test)")
    parser.add_argument("--mnist-images", type=int, default=2000, help="MNIST mixed in (default: 2000, as the test)")
    parser.add_argument("--seeds", type=int, default=2, help="fine-tunes per row (default: 2)")
    parser.add_argument("--data-root", type=Path, default=None)
    args = parser.parse_args()
    args.data_root = resolve_data_root(args.data_root)
    store = RunStore(args.work / "runs")
    sets = make_sets(args.work, args.data_root, args.sets.split(","))
    print("| parent | set | method | held-out before → after | gain (pts) | MNIST before → after | change (pts) | s |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for spec in args.parents.split(","):
        parent = parent_run(store, spec, args.data_root)
        for set_name, folder in sets.items():
            for name in args.methods.split(";"):
                started = time.perf_counter()
                results = measure(store, parent, folder, Method.parse(name), args)
                print(_row(spec, set_name, name, results, time.perf_counter() - started), flush=True)


def _row(parent: str, set_name: str, method: str, results: list[tuple | None], seconds: float) -> str:
    failed = sum(r is None for r in results)
    results = [r for r in results if r is not None]
    if not results:
        return f"| {parent} | {set_name} | {method} | diverged | | | | {seconds:.0f} |"
    hw_before, hw_after, mnist_before, mnist_after = (statistics.mean(r[i] for r in results) for i in range(4))
    every = " ".join(f"{100 * (r[1] - r[0]):+.1f}/{100 * (r[3] - r[2]):+.2f}" for r in results)
    return (
        f"| {parent} | {set_name} | {method} | {100 * hw_before:.1f}% → {100 * hw_after:.1f}% | "
        f"{100 * (hw_after - hw_before):+.1f} | {100 * mnist_before:.2f}% → {100 * mnist_after:.2f}% | "
        f"{100 * (mnist_after - mnist_before):+.2f} | {seconds:.0f} | {every}"
        + (f" ({failed} diverged)" if failed else "")
    )


if __name__ == "__main__":
    main()
