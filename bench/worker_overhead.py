"""Does watching a job slow it down? The CLI trainer's images/s vs. a job on the watched Train page.

Each round runs the same slice twice, each in a fresh process, one after the other:

(a) headless: `python -m resnet_mnist train` — the CLI trainer, training in its main thread;
(b) watched: the real Train page under Streamlit's AppTest starts the job through its Start button,
    so it trains in the dashboard's worker thread, and the page's live fragment is rerun once a
    second while it runs, as the browser's timer does (`--whole-page` reruns the whole page instead,
    sidebar and all: an upper bound).
    After each run the bench does what the server's script runner does and AppTest's does not:
    gc.collect(2) if the app's config leaves `runner.postScriptGC` on (.streamlit/config.toml turns
    it off; `--post-script-gc` collects anyway, to see what Streamlit's default would cost).

The kinds alternate so that drift in machine load hits both alike; medians and their ratio are
printed. The images/s are the engine's own (training images over training seconds, epoch 1), so
process start and reading MNIST are not counted on either side.

Separate runs on a shared machine differ by ±10%, more than the effect being measured, so part 2
isolates the page's cost within one job: alternate windows of a few seconds with and without
page reruns, compared by their mean images/s.

    .venv/bin/python -m bench.worker_overhead [--batches 400] [--repeats 5] [--window 4] [--window-epochs 5]
        [--whole-page] [--post-script-gc] [--no-watch]

(`--repeats 0` runs part 2 only.) Why fresh processes: in a process whose main thread has already
trained, that thread's OpenMP pool stays alive, and a job then trained on another thread ran ~15%
slower for that alone (not so with OMP_NUM_THREADS=1, nor when only other, ended threads had
trained). Neither the CLI nor the Streamlit server, whose script threads end after each run, is
in that state, and comparing them in one process made the worker look ~10% slower than it is.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"  # the shared copy of MNIST, as bench/speed.py uses


def headless_rate(batches: int, batch_size: int, data_root: Path, runs_dir: Path) -> float:
    """Images/s of one CLI training run in its own process."""
    subprocess.run(
        [
            sys.executable, "-m", "resnet_mnist", "train", "--quiet", "--epochs", "1",
            "--batch-size", str(batch_size), "--train-limit", str(batches * batch_size), "--test-limit", "1000",
            "--device", "cpu", "--data-root", str(data_root), "--runs-dir", str(runs_dir),
        ],
        check=True,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return _only_run_rate(runs_dir)


def _run_child(mode: str, data_root: Path, runs_dir: Path) -> dict:
    """Run this script as `mode` (--child or --windows-child) with this run's own options; its JSON result."""
    env = {**os.environ, "RESNET_MNIST_DATA": str(data_root), "RESNET_MNIST_RUNS": str(runs_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "bench.worker_overhead", mode, *sys.argv[1:]],
        check=True,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def watched_rate(data_root: Path, runs_dir: Path) -> tuple[float, int]:
    """Images/s of one job started on the Train page in its own process, and how often the page reran."""
    reruns = _run_child("--child", data_root, runs_dir)["reruns"]
    return _only_run_rate(runs_dir), reruns


def _only_run_rate(runs_dir: Path) -> float:
    from resnet_mnist import RunStore

    store = RunStore(runs_dir)
    (run,) = store.runs()
    assert run.state == "finished", f"the run ended {run.state}"
    return float(store.metrics(run.id)["epochs"][0]["images_per_second"])


def _start_on_the_page(
    epochs: int, train_images: int | None, batch_size: int, log_interval: int = 10
) -> tuple[object, object]:
    """Open the Train page under AppTest and press Start; the page and its (cached) worker."""
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import AppTest, app_test, local_script_runner

    # AppTest compiles the scripts afresh on every run (a new ScriptCache each time), which alone
    # costs more than running the page; a server compiles them once. Share one cache, as it does.
    shared_cache = ScriptCache()
    app_test.ScriptCache = local_script_runner.ScriptCache = lambda: shared_cache

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/train.py").run()
    at.number_input(key="train_epochs").set_value(epochs)
    at.select_slider(key="train_batch_size").set_value(batch_size)
    at.number_input(key="train_train_limit").set_value(train_images)
    at.number_input(key="train_test_limit").set_value(1000)
    at.number_input(key="train_log_interval").set_value(log_interval)
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception

    from pages._common import get_worker

    worker = get_worker()  # st.cache_resource: the page's own worker
    assert worker.snapshot().busy, "the page did not start the job"
    return at, worker


def _rerun_only_the_fragment(at: object) -> None:
    """Make every later `at.run()` rerun only the page's live fragment, as the browser's timer does.

    AppTest (Streamlit 1.67) has no public way to rerun one fragment: this reads the fragment's id
    from its private fragment storage and adds it to the rerun requests AppTest sends.
    """
    from streamlit.runtime.scriptrunner_utils.script_requests import RerunData
    from streamlit.testing.v1 import local_script_runner

    fragments = list(getattr(getattr(at, "_fragment_storage", None), "_fragments", {}))
    if len(fragments) != 1:
        raise SystemExit(f"expected the Train page's one live fragment in AppTest, found {fragments}; try --whole-page")
    local_script_runner.RerunData = lambda *a, **k: RerunData(*a, **k, fragment_id_queue=fragments)


def _rerun(at: object, collect: bool) -> None:
    """One page run as the server does it, whose runner, unlike AppTest's, may collect garbage after."""
    at.run()
    if collect:  # ScriptRunner._on_script_finished with runner.postScriptGC on
        gc.collect(2)


def child(batches: int, batch_size: int, watch: bool, collect: bool, whole_page: bool) -> None:
    """In the child process: start the job on the Train page and rerun the page while it trains."""
    at, worker = _start_on_the_page(1, batches * batch_size, batch_size)
    if not whole_page:
        _rerun_only_the_fragment(at)
    reruns = 0
    while not worker.join(timeout=1.0):
        if watch:
            _rerun(at, collect)
            reruns += 1
    at.run()  # the page sees the end, as in the browser
    assert not at.exception, at.exception
    print(json.dumps({"reruns": reruns}))


def windows_child(batch_size: int, window: float, collect: bool, whole_page: bool, epochs: int) -> None:
    """In the child process: one job; alternate windows with and without page reruns.

    Windows next to each other share the machine's state, so their rates compare more tightly
    than separate runs do. The job logs every 10th batch, as by default, so the charts hold what
    they would; a window's batch count is known to ±10 batches at each end, an error that averages
    out over the windows. A window in which an epoch ended is left out.
    """
    at, worker = _start_on_the_page(epochs, None, batch_size)
    if not whole_page:
        _rerun_only_the_fragment(at)
    while worker.snapshot().epoch == 0 and worker.is_alive():
        time.sleep(0.1)  # reading MNIST
    time.sleep(window)  # let the first batches (allocations, kernel choice) pass
    rates: dict[str, list[float]] = {"watched": [], "unwatched": []}
    watched = True
    while worker.is_alive():
        before, started = worker.snapshot(), time.perf_counter()
        deadline = started + window
        while time.perf_counter() < deadline and worker.is_alive():
            time.sleep(min(1.0, max(deadline - time.perf_counter(), 0.0)))
            if watched:
                _rerun(at, collect)
        after, seconds = worker.snapshot(), time.perf_counter() - started
        if after.busy and after.epoch == before.epoch and not after.evaluating:
            rates["watched" if watched else "unwatched"].append((after.batch - before.batch) * batch_size / seconds)
        watched = not watched
    print(json.dumps(rates))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=400, help="training batches per run (default 400)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5, help="runs of each kind, alternating (default 5)")
    parser.add_argument("--no-watch", action="store_true", help="start the job on the page but do not rerun it")
    parser.add_argument(
        "--data-root", default=None, help="folder holding MNIST/raw/ (default: $RESNET_MNIST_DATA, else ../shared/data)"
    )
    parser.add_argument("--window", type=float, default=4.0, help="seconds per window in part 2 (default 4)")
    parser.add_argument("--whole-page", action="store_true", help="rerun the whole page, not only the live fragment")
    parser.add_argument("--window-epochs", type=int, default=5, help="length of the part-2 job (default 5 epochs)")
    parser.add_argument(
        "--post-script-gc", action="store_true", help="gc.collect(2) after each page run, as Streamlit does by default"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--windows-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    configured_gc = _post_script_gc()
    collect = args.post_script_gc or configured_gc
    if args.child:
        child(args.batches, args.batch_size, watch=not args.no_watch, collect=collect, whole_page=args.whole_page)
        return
    if args.windows_child:
        windows_child(args.batch_size, args.window, collect, args.whole_page, args.window_epochs)
        return

    data_root = Path(args.data_root or os.environ.get("RESNET_MNIST_DATA") or SHARED_DATA).resolve()
    watch = not args.no_watch
    print(f"slice: {args.batches} batches × {args.batch_size} = {args.batches * args.batch_size:,} images, 1 epoch")
    rerun = ("whole page" if args.whole_page else "live fragment") + " rerun once a second" if watch else "not rerun"
    print(f"data: {data_root}; each run in a fresh process; {rerun}")
    print(f"gc.collect(2) after each page run: {collect} (the app's runner.postScriptGC: {configured_gc})")
    print()
    a_rates: list[float] = []
    b_rates: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            started = time.perf_counter()
            a_rates.append(headless_rate(args.batches, args.batch_size, data_root, Path(tmp) / f"cli{i}"))
            a_time = time.perf_counter() - started
            rate, reruns = watched_rate(data_root, Path(tmp) / f"page{i}")
            b_rates.append(rate)
            print(
                f"round {i + 1}: CLI {a_rates[-1]:7,.0f} img/s ({a_time:.1f} s wall) | "
                f"Train page {b_rates[-1]:7,.0f} img/s ({reruns} page reruns)",
                flush=True,
            )
    if args.repeats:
        report_rounds(a_rates, b_rates)
    if watch:
        compare_windows(args, data_root)


def _post_script_gc() -> bool:
    """The app's runner.postScriptGC, read as the server reads it (from the repo's .streamlit/)."""
    from streamlit import config

    previous = Path.cwd()
    os.chdir(REPO)
    try:
        return bool(config.get_option("runner.postScriptGC"))
    finally:
        os.chdir(previous)


def report_rounds(a_rates: list[float], b_rates: list[float]) -> None:
    a, b = statistics.median(a_rates), statistics.median(b_rates)
    print(f"\nmedian CLI (headless):   {a:7,.0f} images/s")
    print(f"median Train page job:   {b:7,.0f} images/s")
    paired = statistics.median(p / h for p, h in zip(b_rates, a_rates, strict=True))
    print(f"ratio of the medians:    {b / a:.3f} ({100 * (b / a - 1):+.1f}%)")
    print(f"median ratio per round:  {paired:.3f} ({100 * (paired - 1):+.1f}%)")


def compare_windows(args: argparse.Namespace, data_root: Path) -> None:
    """Part 2: the cost of the page's reruns alone, within one job (see windows_child)."""
    what = "whole-page" if args.whole_page else "fragment"
    job = f"one {args.window_epochs}-epoch job on the Train page"
    print(f"\n{job}, {args.window:g}-s windows with and without {what} runs")
    with tempfile.TemporaryDirectory() as tmp:
        rates = _run_child("--windows-child", data_root, Path(tmp))
    watched, unwatched = statistics.fmean(rates["watched"]), statistics.fmean(rates["unwatched"])
    print(f"mean unwatched window:   {unwatched:7,.0f} images/s ({len(rates['unwatched'])} windows)")
    print(f"mean watched window:     {watched:7,.0f} images/s ({len(rates['watched'])} windows)")
    print(f"ratio watched/unwatched: {watched / unwatched:.3f} ({100 * (watched / unwatched - 1):+.1f}%)")


if __name__ == "__main__":
    main()
