"""How long one live redraw of the Train page's loss chart takes for a long run, with and without downsampling.

A 500-epoch run of the seed's batch size logged every batch: 938 × 500 = 469,000 points. Each
redraw turns the worker's events into records, builds the figure and serialises it to JSON (what
Streamlit sends to the browser). Both ways run alternately in this one process.

    .venv/bin/python -m bench.long_run_charts [--epochs 500] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

from resnet_mnist.core.events import BatchLogged
from resnet_mnist.ui.figures import loss_figure, metrics_from_events, thin_batches


def _events(epochs: int, per_epoch: int) -> list[BatchLogged]:
    return [
        BatchLogged(
            e, (e - 1) * per_epoch + b, b, per_epoch, 2.3 / (1 + 0.01 * ((e - 1) * per_epoch + b)), 3000.0, 0.01, 0.5
        )
        for e in range(1, epochs + 1)
        for b in range(1, per_epoch + 1)
    ]


def _redraw(batches: list[BatchLogged], downsample: bool) -> tuple[float, int]:
    started = time.perf_counter()
    shown = thin_batches(batches) if downsample else batches
    metrics = metrics_from_events(shown)
    figure = loss_figure(metrics["batches"], max_points=None if not downsample else 2_000)
    payload = figure.to_json()
    return time.perf_counter() - started, len(payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--per-epoch", type=int, default=938)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    batches = _events(args.epochs, args.per_epoch)
    times: dict[bool, list[float]] = {False: [], True: []}
    sizes: dict[bool, int] = {}
    for _ in range(args.repeats):
        for downsample in (False, True):
            seconds, size = _redraw(batches, downsample)
            times[downsample].append(seconds)
            sizes[downsample] = size
    for downsample in (False, True):
        label = "downsampled to 2,000 points" if downsample else "every point"
        seconds = statistics.median(times[downsample])
        print(f"{label:>28}: {seconds:.3f} s per redraw, {sizes[downsample] / 1e6:.1f} MB of JSON")
    ratio = statistics.median(times[True]) / statistics.median(times[False])
    print(f"points={len(batches)} redraw_time_ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
