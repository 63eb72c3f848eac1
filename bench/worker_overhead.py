"""Does watching a job slow it down? Trainer images/s headless vs. through the dashboard's worker.

(a) headless: run_training with a no-op listener, as the CLI trains;
(b) the same config through TrainingWorker while another thread does what the Train page's live
    fragment does once a second: snapshot(), turn it into records and build both plotly figures
    (serialised to JSON, as Streamlit sends them).
The two alternate so that drift in machine load hits both alike; medians and their ratio are printed.

    .venv/bin/python -m bench.worker_overhead [--batches 200] [--repeats 3] [--device cpu] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import plotly.io
import plotly.tools
import torch

from resnet_mnist import EpochCompleted, RunStore, TrainConfig, TrainingWorker, load_split, run_training
from resnet_mnist.charts import accuracy_figure, loss_figure, metrics_from_events
from resnet_mnist.data import resolve_data_root


def headless(config: TrainConfig, data_root: Path) -> float:
    rates: list[float] = []

    def listen(event: object) -> None:
        if isinstance(event, EpochCompleted):
            rates.append(event.images_per_second)

    outcome = run_training(config, listen, data_root=str(data_root))
    assert outcome.state.value == "finished", outcome.reason
    return statistics.fmean(rates)


def _render_like_the_page(worker: TrainingWorker) -> None:
    """What one run of the live fragment costs the server: snapshot, records, figures, JSON."""
    snap = worker.snapshot()
    metrics = metrics_from_events(snap.batches, snap.epochs, snap.hparam_changes)
    figures = (
        loss_figure(metrics["batches"], metrics["epochs"], metrics["hparam_changes"], uirevision=snap.run_id),
        accuracy_figure(metrics["epochs"], metrics["hparam_changes"], uirevision=snap.run_id),
    )
    for figure in figures:  # exactly what st.plotly_chart does with a figure
        plotly.io.to_json(plotly.tools.return_figure_from_figure_or_data(figure, validate_figure=True), validate=False)


def through_worker(config: TrainConfig, data_root: Path, runs: Path, period: float) -> tuple[float, int]:
    worker = TrainingWorker(RunStore(runs), data_root=data_root)
    done = threading.Event()
    polls = 0

    def poll() -> None:
        nonlocal polls
        while not done.wait(period):
            _render_like_the_page(worker)
            polls += 1

    poller = threading.Thread(target=poll, name="bench-poller")
    worker.start(config)
    poller.start()
    worker.join()
    done.set()
    poller.join()
    snap = worker.snapshot()
    assert snap.state.value == "finished", snap.reason
    return statistics.fmean(e.images_per_second for e in snap.epochs), polls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200, help="training batches per run (default 200)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each kind, alternating (default 3)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--period", type=float, default=1.0, help="seconds between polls (the fragment's 1 s)")
    parser.add_argument(
        "--data-root", default=None, help="folder holding MNIST/raw/ (default: $RESNET_MNIST_DATA, else ../shared/data)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    # Benchmarks use the shared copy of MNIST, as bench/speed.py does, unless told otherwise.
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    data_root = resolve_data_root(args.data_root or os.environ.get("RESNET_MNIST_DATA") or shared)
    config = TrainConfig(
        epochs=1,
        batch_size=args.batch_size,
        train_limit=args.batches * args.batch_size,
        test_limit=1000,
        device=args.device,
    )
    load_split(data_root, train=True)  # parse the files before timing anything
    load_split(data_root, train=False)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print(f"slice: {args.batches} batches × {args.batch_size} = {config.train_limit:,} images, 1 epoch\n")
    a_rates, b_rates = [], []
    with tempfile.TemporaryDirectory() as tmp:
        headless(config.with_changes(train_limit=20 * args.batch_size), data_root)  # warm-up, not counted
        for i in range(args.repeats):
            started = time.perf_counter()
            a_rates.append(headless(config, data_root))
            a_time = time.perf_counter() - started
            rate, polls = through_worker(config, data_root, Path(tmp) / f"runs{i}", args.period)
            b_rates.append(rate)
            print(
                f"round {i + 1}: headless {a_rates[-1]:8,.0f} img/s ({a_time:.1f} s) | "
                f"worker + polling {b_rates[-1]:8,.0f} img/s ({polls} polls)"
            )
    a, b = statistics.median(a_rates), statistics.median(b_rates)
    print(f"\nmedian headless:        {a:8,.0f} images/s")
    print(f"median worker + polling: {b:8,.0f} images/s")
    print(f"ratio worker/headless:   {b / a:.3f} ({100 * (b / a - 1):+.1f}%)")


if __name__ == "__main__":
    main()
