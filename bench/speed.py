"""How fast is our trainer next to the seed script? Both run the same work, side by side.

(a) the seed: ../shared/seed/seed_baseline.py --epochs 1 --max-batches N, in its own process;
    it prints EPOCH_TIME (N batches of 64, its DataLoader included) and TEST_TIME (the full
    test pass over all of MNIST's test images at batch 1000).
(b) the project: this script again, in its own process (--child), running run_training as the
    dashboard does: the first N×64 training images, shuffled, in N batches of 64 with the seed's
    lr 0.01 / momentum 0.5 / seed 1, then the full test pass at test batch 1000. The times are the
    engine's own train_seconds / test_seconds from its EpochCompleted event.

Both sides are timed the same way: from the first batch to the end of the pass, so process start
and reading MNIST from disk are left out of both (the seed's per-image transforms stay in: they
are part of its training loop). Each repeat runs a then b, the next b then a, so drift in machine
load hits both alike; the table shows medians. The last line is

    train_time_ratio=<project/seed> test_time_ratio=<project/seed>

The project runs in --precision (fp32, bf16 or auto, as the dashboard's setting) and with
--threads: 'auto' (the default) lets each side choose as it would for a user (the seed: PyTorch's
one thread per core; the project: its own choice from the idle cores), a number fixes both.
--hog N runs N busy loops beside both sides for the whole measurement, to see a shared machine.

    .venv/bin/python bench/speed.py [--batches 200] [--repeats 3] [--device cpu|cuda] [--precision fp32|bf16|auto]
        [--threads auto|N] [--hog N] [--data-root DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere, without installing the package
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from bench.speed_ablation import BATCH_SIZE, TEST_BATCH_SIZE, ablation  # noqa: E402
from resnet_mnist.core.data import MNIST_TEST_SIZE as TEST_IMAGES  # noqa: E402
from resnet_mnist.core.data import MNIST_TRAIN_SIZE  # noqa: E402

SEED_SCRIPT = REPO.parent / "shared" / "seed" / "seed_baseline.py"
# Runs a script with time.perf_counter replaced by time.process_time: the script's own timings
# then count the CPU seconds it used, not the seconds other programs took from it (--clock cpu).
_CPU_CLOCK_BOOT = (
    "import runpy, sys, time; time.perf_counter = time.process_time; sys.argv = sys.argv[1:]; "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)
_TIME_LINE = re.compile(r"^(EPOCH_TIME|TEST_TIME) ([0-9.]+)s", re.MULTILINE)
_SETUP_LINE = re.compile(r"^SETUP (\d+) (.*)$", re.MULTILINE)
_HOG = "while True: pass"


@dataclass(frozen=True)
class Timing:
    """One side's seconds for the N training batches and for the test pass."""

    train_seconds: float
    test_seconds: float
    threads: int = 0  # the project's thread count …
    setup: str = ""  # … and its precision, with the reasons


def forward_flops_per_image() -> int:
    """FLOPs of one forward pass of the seed's Net: 2 × the multiply-adds of every conv and linear layer."""
    from resnet_mnist.core.model import Net

    macs = 0

    def count(module: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            # each output value is a dot product over (in_channels / groups) × kh × kw inputs
            macs += output[0].numel() * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, nn.Linear):
            macs += module.in_features * module.out_features

    model = Net()
    handles = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    for handle in handles:
        handle.remove()
    return 2 * macs


def run_seed(python: list[str], script: Path, data_root: Path, batches: int, env: dict[str, str]) -> Timing:
    """Time the seed script in a fresh process; its own EPOCH_TIME / TEST_TIME lines are the figures."""
    command = [*python, str(script), "--root", str(data_root), "--epochs", "1", "--max-batches", str(batches)]
    return _timing_from(command, cwd=script.parent, who="the seed script", env=env)


def run_project(
    python: list[str], data_root: Path, batches: int, device: str, env: dict[str, str], precision: str, threads: str
) -> Timing:
    """Time our trainer in a fresh process (this script with --child), like the seed."""
    command = [
        *python,
        str(Path(__file__).resolve()),
        "--child",
        "--data-root",
        str(data_root),
        "--batches",
        str(batches),
        "--device",
        device,
        "--precision",
        precision,
        "--threads",
        threads,
    ]
    return _timing_from(command, cwd=REPO, who="the project's trainer", env=env)


def _timing_from(command: list[str], cwd: Path, who: str, env: dict[str, str]) -> Timing:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    found = dict((name, float(value)) for name, value in _TIME_LINE.findall(done.stdout))
    if done.returncode != 0 or set(found) != {"EPOCH_TIME", "TEST_TIME"}:
        tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
        raise SystemExit(f"{who} failed (exit {done.returncode}): {' '.join(command)}\n" + "\n".join(tail))
    setup = _SETUP_LINE.search(done.stdout)
    if setup is None:
        return Timing(found["EPOCH_TIME"], found["TEST_TIME"])
    return Timing(found["EPOCH_TIME"], found["TEST_TIME"], int(setup.group(1)), setup.group(2))


def child(data_root: Path, batches: int, device: str, precision: str, threads: str) -> None:
    """The project side: one run_training epoch over batches × 64 images, then the full test pass."""
    from resnet_mnist import TrainConfig, load_split, run_training
    from resnet_mnist.core.compute_plan import plan_compute
    from resnet_mnist.core.events import EpochCompleted

    train_split = load_split(data_root, train=True)  # read and normalised before the clock starts
    test_split = load_split(data_root, train=False)
    config = TrainConfig(  # the seed's recipe otherwise
        epochs=1,
        device=device,
        train_limit=batches * BATCH_SIZE,
        precision=precision,
        threads=None if threads == "auto" else int(threads),
    )
    plan = plan_compute(config)  # what the Train page would say, just before the run
    completed: list[EpochCompleted] = []

    def keep(event: object) -> None:
        if isinstance(event, EpochCompleted):
            completed.append(event)

    outcome = run_training(config, keep, train_split=train_split, test_split=test_split)
    if not completed:
        raise SystemExit(f"the project's trainer did not finish: {outcome.reason}")
    epoch = completed[0]
    print(f"EPOCH_TIME {epoch.train_seconds:.4f}s")
    print(f"TEST_TIME {epoch.test_seconds:.4f}s")
    print(f"ACCURACY {epoch.test_accuracy:.4f} threads={epoch.threads} precision={epoch.precision} device={device}")
    print(f"SETUP {epoch.threads} {' '.join(plan.lines()) if plan else ''}")


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__}"


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _row(name: str, images: int, seconds: list[float], flops_per_image: float) -> str:
    median = statistics.median(seconds)
    runs = " ".join(f"{s:.2f}" for s in seconds)
    return (
        f"{name:<22} {median:>9.2f} {images / median:>10,.0f} {images * flops_per_image / median / 1e9:>9.1f}   {runs}"
    )


def main(argv: list[str] | None = None) -> None:
    args, data_root = _arguments(argv)
    if args.child:
        child(data_root, args.batches, args.device, args.precision, args.threads)
        return
    if args.ablation:
        if args.threads != "auto":
            torch.set_num_threads(int(args.threads))
        print(f"machine: {_machine()}; {torch.get_num_threads()} thread(s), {args.clock} clock; load {_load()}")
        ablation(data_root, args.batches, args.repeats, time.process_time if args.clock == "cpu" else time.perf_counter)
        print(f"load average after: {_load()}")
        return
    compare(args, data_root)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=None, help="folder holding MNIST/raw/")
    parser.add_argument("--batches", type=int, default=200, help="training batches of 64 per timed pass")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side (medians are reported)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "mps", "auto"], help="the project's device")
    parser.add_argument(
        "--threads",
        default="auto",
        help="CPU threads for both sides (OMP_NUM_THREADS), or auto (the default): the seed gets PyTorch's "
        "one per core, the project its own choice from the idle cores",
    )
    parser.add_argument(
        "--precision", default=None, choices=["fp32", "bf16", "auto"], help="the project's (default: its default)"
    )
    parser.add_argument("--hog", type=int, default=0, help="run this many busy loops beside both sides")
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall: elapsed seconds (the real figure, on a quiet machine); cpu: CPU seconds of each process, "
        "for comparing work on a busy machine (implies --threads 1)",
    )
    parser.add_argument("--seed-script", type=Path, default=SEED_SCRIPT)
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="instead: switch the speed-ups on one after another in one process and time each step",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser


def _arguments(argv: list[str] | None) -> tuple[argparse.Namespace, Path]:
    """The command line, checked (argparse's error and exit on a bad one), and the MNIST folder."""
    parser = _parser()
    args = parser.parse_args(argv)
    data_root = args.data_root or Path(os.environ.get("RESNET_MNIST_DATA") or REPO.parent / "shared" / "data")
    data_root = data_root.resolve()
    if not 1 <= args.batches <= 937:
        parser.error(f"--batches must be between 1 and 937 (one epoch of {MNIST_TRAIN_SIZE:,} images at batch 64)")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.threads != "auto" and not (args.threads.isdigit() and int(args.threads) >= 1):
        parser.error("--threads must be auto or a whole number of at least 1")
    if args.clock == "cpu":
        if args.threads not in ("auto", "1"):
            parser.error("--clock cpu counts the CPU time of every thread, spinning ones too: use --threads 1")
        args.threads = "1"
    if args.hog < 0:
        parser.error("--hog must be 0 or more")
    if args.precision is None:
        from resnet_mnist.core.config import TrainConfig

        args.precision = TrainConfig().precision
    from resnet_mnist.core.devices import device_problem

    problem = device_problem(args.device)
    if problem:
        parser.error(problem)
    if not args.child and not args.ablation and not args.seed_script.is_file():
        parser.error(f"the seed script was not found at {args.seed_script}; pass --seed-script")
    return args, data_root


def compare(args: argparse.Namespace, data_root: Path) -> None:
    """The seed and the project side by side, `repeats` times each; the table and the ratios."""
    forward = forward_flops_per_image()
    train_flops = 3 * forward  # forward + backward (input and weight gradients) ≈ 3 forwards
    threads = "each side its own choice" if args.threads == "auto" else f"{args.threads} thread(s)"
    print(
        f"machine: {_machine()}; threads: {threads}, {args.clock} clock; {args.hog} busy loop(s) beside; "
        f"load average before: {_load()}"
    )
    print(
        f"work: {args.batches} training batches of {BATCH_SIZE} ({args.batches * BATCH_SIZE:,} images) and the "
        f"{TEST_IMAGES:,}-image test pass at batch {TEST_BATCH_SIZE}; project device: {args.device}, precision "
        f"{args.precision} (the seed script always uses the CPU in fp32); forward {forward / 1e6:.2f} MFLOP/image, "
        f"training ≈ 3× = {train_flops / 1e6:.2f} MFLOP/image"
    )
    started = time.perf_counter()
    with _busy_loops(args.hog):
        seed_runs, project_runs = _measure(args, data_root)
    counts = ", ".join(str(t.threads) for t in project_runs)
    print(f"load average after: {_load()}; wall time {time.perf_counter() - started:.0f} s")
    print(f"project chose (first run): {project_runs[0].setup} Threads in its runs: {counts}.")
    print()
    images = args.batches * BATCH_SIZE
    print(f"{'':<22} {'median s':>9} {'images/s':>10} {'GFLOP/s':>9}   runs (s)")
    print(_row("seed train", images, [t.train_seconds for t in seed_runs], train_flops))
    print(_row("project train", images, [t.train_seconds for t in project_runs], train_flops))
    print(_row("seed test", TEST_IMAGES, [t.test_seconds for t in seed_runs], forward))
    print(_row("project test", TEST_IMAGES, [t.test_seconds for t in project_runs], forward))
    train_ratio = statistics.median(t.train_seconds for t in project_runs) / statistics.median(
        t.train_seconds for t in seed_runs
    )
    test_ratio = statistics.median(t.test_seconds for t in project_runs) / statistics.median(
        t.test_seconds for t in seed_runs
    )
    print(f"train_time_ratio={train_ratio:.3f} test_time_ratio={test_ratio:.3f}")


def _measure(args: argparse.Namespace, data_root: Path) -> tuple[list[Timing], list[Timing]]:
    """`repeats` runs of each side, alternating which goes first."""
    python = [sys.executable] if args.clock == "wall" else [sys.executable, "-c", _CPU_CLOCK_BOOT]
    env = dict(os.environ)
    if args.threads != "auto":  # both sides alike; torch reads these when it starts
        env.update(OMP_NUM_THREADS=args.threads, MKL_NUM_THREADS=args.threads)
    seed_runs: list[Timing] = []
    project_runs: list[Timing] = []
    for repeat in range(args.repeats):
        order = ("seed", "project") if repeat % 2 == 0 else ("project", "seed")
        for side in order:
            if side == "seed":
                seed_runs.append(run_seed(python, args.seed_script, data_root, args.batches, env))
            else:
                project_runs.append(
                    run_project(python, data_root, args.batches, args.device, env, args.precision, args.threads)
                )
            latest = seed_runs[-1] if side == "seed" else project_runs[-1]
            times = f"train {latest.train_seconds:6.2f} s  test {latest.test_seconds:5.2f} s"
            print(f"  repeat {repeat + 1} {side:<7} {times}", flush=True)
    return seed_runs, project_runs


@contextlib.contextmanager
def _busy_loops(count: int) -> Iterator[None]:
    """`count` processes that spin on the CPU until the block ends: a machine someone else is using."""
    hogs = [subprocess.Popen([sys.executable, "-c", _HOG]) for _ in range(count)]
    try:
        if hogs:
            time.sleep(2)  # let them take their cores before anything is timed
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


if __name__ == "__main__":
    main()
