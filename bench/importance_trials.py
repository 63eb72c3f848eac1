"""How many trials before "which setting mattered" can be read? The ranking's hit rate against sweep size.

Trains `--trials` real trials as a random sweep draws them (lr log-uniform in [1e-4, 1], momentum uniform in
[0.45, 0.55], 1 epoch on the first `--train-limit` images; no Ray: the trials are the same runs), then, for each
sweep size n, draws `--draws` random subsets of n trials and computes the importance on each
(resnet_mnist/sweeps/importance.py's PED-ANOVA, no bootstrap): the share of subsets that rank lr first. lr over
four decades against a sliver of momentum is the known answer, so the share is the ranking's hit rate at n.

    RESNET_MNIST_DATA=../shared/data .venv/bin/python bench/importance_trials.py [--trials 30] [--draws 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere, without installing the package
    sys.path.insert(0, str(REPO))

from resnet_mnist import RunStore, TrainConfig, run_training  # noqa: E402
from resnet_mnist.sweeps.importance import MIN_TRIALS, point_importance, sweep_trials  # noqa: E402

SIZES = (5, 6, 8, 10, 11, 12, 16, 20, 24)


def _train_trials(count: int, train_limit: int, seed: int) -> list:
    store = RunStore(Path(tempfile.mkdtemp(prefix="importance-bench-")) / "runs")
    rng = np.random.default_rng(seed)
    for index in range(count):
        config = TrainConfig(
            epochs=1,
            lr=float(10 ** rng.uniform(-4, 0)),
            momentum=float(rng.uniform(0.45, 0.55)),
            train_limit=train_limit,
            test_limit=2000,
            device="cpu",
        )
        outcome = run_training(config, store.create(config, device="cpu", sweep="bench"))
        print(
            f"trial {index + 1}/{count}: lr {config.lr:.4g}, momentum {config.momentum:.3f}: {outcome.state.value} "
            f"{outcome.reason or ''}",
            file=sys.stderr,
        )
    return sweep_trials(store.runs(), "bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--train-limit", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    trials = _train_trials(args.trials, args.train_limit, args.seed)
    if len(trials) < max(SIZES[0], 2):
        sys.exit(f"only {len(trials)} trials reached a test accuracy (see the lines above; is RESNET_MNIST_DATA set?)")
    rng = np.random.default_rng(0)
    print(f"{len(trials)} trials; the page ranks from {MIN_TRIALS} on")
    print("trials  lr ranked first  (subsets)")
    for size in (s for s in SIZES if s <= len(trials)):
        hits = draws = 0
        for _ in range(args.draws):
            importance = point_importance([trials[i] for i in rng.choice(len(trials), size, replace=False)])
            if importance:
                hits += max(importance, key=importance.get) == "lr"
                draws += 1
        print(f"{size:>6}  {hits / draws:>15.0%}  ({draws})")


if __name__ == "__main__":
    main()
