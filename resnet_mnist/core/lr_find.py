"""The learning-rate range test: raise the lr exponentially, batch by batch, and watch the loss.

Leslie Smith's range test (Cyclical Learning Rates, 2017) as fastai's `lr_find` runs it: SGD on a fresh
copy of the seed's Net, the lr multiplied by a constant each step from `start_lr` to `end_lr`, the loss
smoothed (a debiased exponential average), a ramp stopped once that blows up. A few short ramps, each
over its own batch order, are averaged, and the curve is cut before the first blow-up. The suggestion
follows fastai's "valley" rule (its default since fastai PR #3377, 2021): a point inside the stretch where
the loss falls, not the steepest point nor a tenth of the lowest one. Its valley starts where the loss
leaves its starting level rather than at the longest decreasing subsequence's start, and the pick sits
two thirds along it: how that was chosen, with figures, is bench/lr_find.py and the README's "Finding a
learning rate". Pure: everything comes in as arguments, progress goes out as events (LrFindStep).
Torch's schedulers are not used: the ramp is one multiplication a step and must stop mid-way. Nor is
torch-lr-finder (0.2.2, the usual PyPI package): one call runs one ramp over a DataLoader with no hook per
step (the page draws the curve live) and no stop between batches, and its suggestion is the steepest
point, the rule this module leaves out; what is left of it here is some twenty lines.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from resnet_mnist.core.data import MnistSplit
from resnet_mnist.core.measure import prepare_images
from resnet_mnist.core.model import Net
from resnet_mnist.core.precision import Precision, resolve_precision
from resnet_mnist.core.threads import choose_threads

__all__ = [
    "MAX_STEPS",
    "LrFindError",
    "LrFindListener",
    "LrFindResult",
    "LrFindSettings",
    "LrFindStep",
    "find_lr",
    "valley",
]

MAX_STEPS = 200  # per repeat: the test is a quick look, never a training run
MAX_REPEATS = 5
_WARM_UP = 5  # steps before a blow-up is judged: the first smoothed losses are a handful of batches


class LrFindError(ValueError):
    """Settings the range test cannot run with; the message names the setting, as the user typed it."""


@dataclass(frozen=True)
class LrFindSettings:
    """One range test: the seed's Net and SGD with `momentum`, `repeats` ramps of `steps` batches each."""

    momentum: float = 0.5
    batch_size: int = 64
    seed: int = 1
    start_lr: float = 1e-4  # below this the seed's Net hardly moves in a few dozen steps
    end_lr: float = 10.0
    steps: int = 60  # per repeat: 12 steps a decade over 1e-4..10
    repeats: int = 3
    smoothing: float = 0.8  # the loss average's beta; fastai's 0.98 lags ~50 steps, most of a 60-step ramp
    blow_up: float = 4.0  # stop once the smoothed loss passes this many times its best
    precision: str = "auto"  # as a run computes on the CPU (bf16 where the CPU has it), channels-last

    def problems(self, train_size: int) -> list[str]:
        """Every bad setting, each in one line naming it; [] when the test can run on `train_size` images."""
        found = []
        if not (0.0 <= self.momentum < 1.0):
            found.append(f"momentum must be at least 0 and below 1 (got {self.momentum})")
        if not (1 <= self.batch_size <= max(train_size, 1)):
            found.append(f"batch size must be between 1 and the {train_size:,} images (got {self.batch_size})")
        if not (0 < self.start_lr < self.end_lr) or not math.isfinite(self.end_lr):
            found.append(f"the lr range must rise from above 0 (got {self.start_lr}..{self.end_lr})")
        if not (10 <= self.steps <= MAX_STEPS):
            found.append(f"steps must be between 10 and {MAX_STEPS} (got {self.steps})")
        if not (1 <= self.repeats <= MAX_REPEATS):
            found.append(f"repeats must be between 1 and {MAX_REPEATS} (got {self.repeats})")
        if self.seed < 0:
            found.append(f"seed must be at least 0 (got {self.seed})")
        if train_size < 1:
            found.append("there are no training images")
        return found

    def lr_at(self, step: int) -> float:
        """The ramp's lr at `step` (0-based): start_lr x (end/start)^(step / (steps - 1))."""
        return self.start_lr * (self.end_lr / self.start_lr) ** (step / (self.steps - 1))


@dataclass(frozen=True)
class LrFindStep:
    """One batch of the ramp: its repeat (from 0), step (from 0), lr and the smoothed loss so far."""

    repeat: int
    step: int
    lr: float
    loss: float  # smoothed
    steps: int  # the most steps a repeat takes
    repeats: int


@dataclass(frozen=True)
class LrFindResult:
    """The suggestion, its band, the mean smoothed curve and where it diverged (None: it never did)."""

    suggested_lr: float
    low: float
    high: float
    lrs: tuple[float, ...]
    losses: tuple[float, ...]
    diverged_at: float | None
    repeat_suggestions: tuple[float, ...]
    curves: tuple[tuple[float, ...], ...] = field(repr=False)  # each repeat's smoothed losses, from step 0
    steps: int = 0  # batches trained, all repeats together
    seconds: float = 0.0
    stopped: bool = False  # a stop request ended it early; what was measured so far is reported

    def as_dict(self) -> dict[str, object]:
        """The fields `lr-find --json` prints."""
        return {
            "suggested_lr": self.suggested_lr,
            "low": self.low,
            "high": self.high,
            "lrs": list(self.lrs),
            "losses": list(self.losses),
            "diverged_at": self.diverged_at,
            "repeat_suggestions": list(self.repeat_suggestions),
            "steps": self.steps,
            "seconds": self.seconds,
        }


LrFindListener = Callable[[LrFindStep], None]


def _ramp(
    settings: LrFindSettings,
    split: MnistSplit,
    repeat: int,
    compute: tuple[Precision, int],
    emit: LrFindListener,
    should_stop: Callable[[], bool],
) -> tuple[list[float], bool]:
    """One repeat of at most `compute`'s steps (later repeats stop at the first one's blow-up: the mean curve
    ends there): the smoothed losses step by step, and whether it blew up (the last loss is the blow-up's)."""
    precision, steps = compute
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = Net()  # the seed's initial weights, the net a run with this seed starts from
    model = model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.start_lr, momentum=settings.momentum)
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(settings.seed * 1009 + repeat))
    average, best, smoothed = 0.0, math.inf, []
    for step in range(steps):
        if should_stop():
            break
        start = (step * settings.batch_size) % len(split)
        index = order[start : start + settings.batch_size]  # wraps to the start when the images run out
        lr = settings.lr_at(step)
        optimizer.param_groups[0]["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        with precision.autocast():
            loss = F.nll_loss(model(prepare_images(split.images[index], True)), split.labels[index])  # (N, 10) in
        value = loss.item()
        if not math.isfinite(value):
            smoothed.append(math.inf)
            emit(LrFindStep(repeat, step, lr, math.inf, settings.steps, settings.repeats))
            return smoothed, True
        loss.backward()
        optimizer.step()
        average = settings.smoothing * average + (1 - settings.smoothing) * value
        smoothed.append(average / (1 - settings.smoothing ** (step + 1)))  # debiased: step 0 is the loss itself
        best = min(best, smoothed[-1])
        emit(LrFindStep(repeat, step, lr, smoothed[-1], settings.steps, settings.repeats))
        if step >= _WARM_UP and _blew_up(smoothed, best, settings.blow_up):
            return smoothed, True
    return smoothed, False


def _blew_up(smoothed: list[float], best: float, factor: float) -> bool:
    """Past `factor` x the best loss, or back above where it started after a real fall (a net pushed to
    chance answers sits at ~2.3, never 4x a best of 1.6 on a short ramp)."""
    fell = best < 0.9 * smoothed[0]
    return smoothed[-1] > factor * best or (fell and smoothed[-1] > smoothed[0])


def valley(losses: list[float], *, leave: float = 0.1, pick: float = 2 / 3) -> tuple[int, int, int]:
    """(start, end, pick) of the valley: from where the loss has left its starting level (fallen `leave` of
    its whole fall) to its lowest point, and the step `pick` of the way along it (on a log ramp: in log lr).

    fastai's valley is the longest decreasing subsequence; on our short ramps its start lands in the flat,
    noisy first decades (any dip there starts a long run), which drags its middle ten times too low.
    A curve that never fell gives (0, 0, 0): the ramp's first lr.
    """
    end = min(range(len(losses)), key=losses.__getitem__)
    fall = losses[0] - losses[end]
    if fall <= 0:
        return 0, 0, 0
    start = next(i for i in range(end + 1) if losses[i] <= losses[0] - leave * fall)
    return start, end, start + round(pick * (end - start))


def _suggest(lrs: list[float], losses: list[float]) -> tuple[float, float, float]:
    """(suggestion, low, high) on one curve: the valley's pick, start and end."""
    start, end, pick = valley(losses)
    return lrs[pick], lrs[start], lrs[end]


def _repeat_suggestion(settings: LrFindSettings, curve: list[float], blew_up_at: int | None) -> float:
    """One repeat's own valley pick, on its curve without the blow-up step."""
    kept = curve[: max(blew_up_at if blew_up_at is not None else len(curve), 2)]
    return _suggest([settings.lr_at(step) for step in range(len(kept))], kept)[0]


def find_lr(
    split: MnistSplit,
    settings: LrFindSettings,
    emit: LrFindListener | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> LrFindResult:
    """Run the range test on `split`'s images (on the CPU, wherever they are) and suggest an lr.

    Raises LrFindError for bad settings; a stop request (`should_stop`) between batches ends it with
    what was measured (`stopped`). The curve is the mean over repeats up to the shortest one, cut
    before the first blow-up, so the suggestion and its band never reach the region that diverged.
    """
    problems = settings.problems(len(split))
    if problems:
        raise LrFindError("; ".join(problems))
    emit = emit or (lambda _step: None)
    should_stop = should_stop or (lambda: False)
    split = split.to("cpu")
    started = time.perf_counter()
    curves, diverged = [], []
    threads_before = torch.get_num_threads()
    torch.set_num_threads(choose_threads(None).count)  # as a run does: 2 threads on 2 busy cores are 10-40x slower
    precision = resolve_precision(settings.precision, "cpu")
    try:
        for repeat in range(settings.repeats):
            steps = min((d + 1 for d in diverged if d is not None), default=settings.steps)
            curve, blew_up = _ramp(settings, split, repeat, (precision, steps), emit, should_stop)
            if len(curve) < 2:
                break
            curves.append(curve)
            diverged.append(len(curve) - 1 if blew_up else None)
    finally:
        torch.set_num_threads(threads_before)
    if not curves:
        raise LrFindError("the range test was stopped before it measured anything")
    return _result(settings, curves, diverged, time.perf_counter() - started, should_stop())


def _result(
    settings: LrFindSettings, curves: list[list[float]], diverged: list[int | None], seconds: float, stopped: bool
) -> LrFindResult:
    """The mean curve up to the earliest blow-up (that step left out) and the valley rule on it."""
    first_blow_up = min((d for d in diverged if d is not None), default=None)
    usable = min(len(c) for c in curves)
    if first_blow_up is not None:
        usable = min(usable, max(first_blow_up, 2))
    lrs = [settings.lr_at(step) for step in range(usable)]
    mean = [sum(c[step] for c in curves) / len(curves) for step in range(usable)]
    suggested, low, high = _suggest(lrs, mean)
    each = tuple(_repeat_suggestion(settings, c, d) for c, d in zip(curves, diverged, strict=True))
    # The band also spans the repeats' own picks (so it says how much they disagreed), below the blow-up.
    low, high = min(low, *each), min(max(high, *each), lrs[-1])
    return LrFindResult(
        suggested_lr=suggested,
        low=min(low, suggested),
        high=max(high, suggested),
        lrs=tuple(lrs),
        losses=tuple(mean),
        diverged_at=None if first_blow_up is None else settings.lr_at(first_blow_up),
        repeat_suggestions=each,
        curves=tuple(tuple(c) for c in curves),
        steps=sum(len(c) for c in curves),
        seconds=seconds,
        stopped=stopped,
    )
