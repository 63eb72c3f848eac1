"""Is lr-find's suggestion stable, cheap and good? The three figures of issue 22, measured in one run.

On the first `--images` MNIST training images (6,000), momentum 0.5, batch 64, for each seed:

- stable: the suggestions of seeds 1-3 (the largest over the smallest must be at most 3);
- cheap: lr-find's wall time over one 1-epoch training run's on the same images (the CLI's `train
  --epochs 1 --train-limit 6000`: its test pass on all 10,000 test images included), at most 2; each
  timed `--timings` times interleaved (lr-find, run, lr-find, run, ...) and the medians compared, so the
  other load on a shared machine falls on both alike;
- good: a 1-epoch run at the suggestion, its test accuracy against the best of the grid
  0.001, 0.003, 0.01, 0.03, 0.1, 0.3 for the same seed (at most 2 points below).

Then the other rules on the same mean curves (how ours was chosen): fastai's valley as it is (the
middle of the longest decreasing subsequence), our valley with its pick half way, the steepest descent,
and the lowest loss / 10 (fastai's older rule); each with its 1-epoch accuracy.

    .venv/bin/python bench/lr_find.py [--images 6000] [--seeds 1,2,3] [--timings 3] [--momentum 0.5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere, without installing the package
    sys.path.insert(0, str(REPO))

from resnet_mnist.core.config import TrainConfig  # noqa: E402
from resnet_mnist.core.data import MnistSplit, load_split  # noqa: E402
from resnet_mnist.core.engine import run_training  # noqa: E402
from resnet_mnist.core.lr_find import LrFindResult, LrFindSettings, find_lr, valley  # noqa: E402

GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
MOMENTUM = 0.5  # the default of --momentum


def fastai_valley(losses: list[float]) -> int:
    """fastai's valley as it ships: the middle of the longest decreasing subsequence."""
    n, length, first = len(losses), [1] * len(losses), list(range(len(losses)))
    end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and length[j] + 1 > length[i]:
                length[i], first[i] = length[j] + 1, first[j]
        if length[i] > length[end]:
            end = i
    return first[end] + (end - first[end]) // 2


def steepest(losses: list[float]) -> int:
    """The steepest fall of the loss per step (the lr is log-spaced, so per log lr)."""
    slopes = [losses[i + 1] - losses[i - 1] for i in range(1, len(losses) - 1)]
    return 1 + min(range(len(slopes)), key=slopes.__getitem__)


def other_rules(result: LrFindResult) -> dict[str, float]:
    lrs, losses = list(result.lrs), list(result.losses)
    lowest = min(range(len(losses)), key=losses.__getitem__)
    return {
        "fastai valley": lrs[fastai_valley(losses)],
        "valley, half way": lrs[valley(losses, pick=0.5)[2]],
        "steepest": lrs[steepest(losses)],
        "lowest / 10": lrs[lowest] / 10,
    }


def one_epoch(lr: float, seed: int, args: argparse.Namespace, train: MnistSplit, test: MnistSplit) -> float:
    """The test accuracy of a 1-epoch run (the CLI's train on the CPU) at `lr`."""
    config = TrainConfig(epochs=1, lr=lr, momentum=args.momentum, seed=seed, train_limit=args.images, device="cpu")
    outcome = run_training(config, lambda _event: None, train_split=train, test_split=test)
    return outcome.final_accuracy or 0.0


def timed(work) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def measure_seed(seed: int, args: argparse.Namespace, train: MnistSplit, test: MnistSplit) -> dict:
    """One seed's suggestion, the time ratio (medians of interleaved timings) and the grid against it."""
    settings = LrFindSettings(momentum=args.momentum, seed=seed)
    find_times, run_times, result = [], [], None
    for _ in range(args.timings):
        seconds, result = timed(lambda: find_lr(train.head(args.images), settings))
        find_times.append(seconds)
        seconds, _ = timed(lambda: one_epoch(0.01, seed, args, train, test))
        run_times.append(seconds)
    assert isinstance(result, LrFindResult)
    grid = {lr: one_epoch(lr, seed, args, train, test) for lr in GRID}
    at_suggestion = one_epoch(result.suggested_lr, seed, args, train, test)
    rules = {name: (lr, one_epoch(lr, seed, args, train, test)) for name, lr in other_rules(result).items()}
    return {
        "rules": rules,
        "seed": seed,
        "result": result,
        "find_s": statistics.median(find_times),
        "run_s": statistics.median(run_times),
        "grid": grid,
        "at_suggestion": at_suggestion,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--timings", type=int, default=3)
    parser.add_argument("--momentum", type=float, default=MOMENTUM)
    args = parser.parse_args()

    train, test = load_split(None, train=True), load_split(None, train=False)
    rows = [measure_seed(int(s), args, train, test) for s in args.seeds.split(",")]
    print(
        f"{'seed':>4} {'suggest':>8} {'low':>8} {'high':>8} {'diverged':>9} {'find s':>7} {'run s':>6} "
        f"{'ratio':>6} {'acc@sugg':>8} {'grid best':>13} {'gap pts':>7}"
    )
    for row in rows:
        r, grid = row["result"], row["grid"]
        best_lr = max(grid, key=grid.get)
        gap = 100 * (grid[best_lr] - row["at_suggestion"])
        diverged = f"{r.diverged_at:.3g}" if r.diverged_at is not None else "-"
        print(
            f"{row['seed']:>4} {r.suggested_lr:>8.4f} {r.low:>8.4f} {r.high:>8.4f} {diverged:>9} "
            f"{row['find_s']:>7.2f} {row['run_s']:>6.2f} {row['find_s'] / row['run_s']:>6.2f} "
            f"{100 * row['at_suggestion']:>7.2f}% {100 * grid[best_lr]:>6.2f}% @{best_lr:<5g} {gap:>7.2f}"
        )
        print("     grid: " + "  ".join(f"{lr:g}: {100 * acc:.2f}%" for lr, acc in grid.items()))
    suggestions = [row["result"].suggested_lr for row in rows]
    print(f"spread of the suggestions (largest / smallest): {max(suggestions) / min(suggestions):.2f}x (bound 3)")
    print(f"largest time ratio: {max(row['find_s'] / row['run_s'] for row in rows):.2f} (bound 2)")
    worst = max(100 * (max(row["grid"].values()) - row["at_suggestion"]) for row in rows)
    print(f"largest gap to the grid's best: {worst:.2f} points (bound 2)")
    print("other rules on the same curves: lr (1-epoch accuracy, points below the grid's best)")
    for name in rows[0]["rules"]:
        cells = []
        for row in rows:
            lr, accuracy = row["rules"][name]
            gap = 100 * (max(row["grid"].values()) - accuracy)
            cells.append(f"seed {row['seed']}: {lr:.3g} ({100 * accuracy:.2f}%, {gap:.1f})")
        print(f"  {name:>16}: " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
