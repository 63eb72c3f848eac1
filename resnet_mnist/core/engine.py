"""The training loop: pure computation that reports through events.

Nothing here prints, writes files or touches Streamlit; callers decide what to do with the
events (see events.py) and steer a run from another thread through a TrainingControl (control.py).
The test pass after each epoch is measure.py's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from resnet_mnist.core.config import TrainConfig
from resnet_mnist.core.control import TrainingControl
from resnet_mnist.core.data import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE, MnistSplit, iterate_batches, load_split
from resnet_mnist.core.devices import resolve_device
from resnet_mnist.core.events import (
    BatchLogged,
    EpochCompleted,
    EvaluationStarted,
    HyperparamsChanged,
    Listener,
    RunState,
    StateChanged,
)
from resnet_mnist.core.measure import Evaluation, evaluate, prepare_images
from resnet_mnist.core.model import Net
from resnet_mnist.core.optimizer import apply_hyperparams, make_optimizer
from resnet_mnist.core.precision import FP32, Precision, resolve_precision
from resnet_mnist.core.resume import StartingPoint, load_momentum, momentum_buffers
from resnet_mnist.core.threads import choose_threads

__all__ = [
    "DivergedError",
    "Evaluation",
    "LossTerm",
    "StartingPoint",
    "TrainingControl",
    "TrainingOutcome",
    "build_model",
    "evaluate",
    "make_optimizer",
    "pause_point",
    "run_training",
    "seed_shuffle_generators",
    "train_epoch",
]


class DivergedError(RuntimeError):
    """The training loss became NaN or infinite at optimizer step `step` (0 when not known)."""

    def __init__(self, message: str, step: int = 0) -> None:
        super().__init__(message)
        self.step = step


class LossTerm(Protocol):
    """A term added to every step's loss (a fine-tune's pull toward its parent: handwriting/retain.py).

    Called inside the step's autocast with the model being trained, the batch and the model's
    log-probabilities for it (N, 10); returns a scalar that is added to the NLL loss.
    """

    def __call__(
        self, model: Net, images: torch.Tensor, labels: torch.Tensor, log_probs: torch.Tensor
    ) -> torch.Tensor: ...


@dataclass(frozen=True)
class TrainingOutcome:
    """How a run ended."""

    state: RunState
    reason: str | None
    epochs_completed: int
    best_accuracy: float | None
    final_accuracy: float | None
    model: Net | None


def build_model(seed: int, device: torch.device | str = "cpu", channels_last: bool = False) -> Net:
    """A freshly initialised Net; the same seed gives the same weights, without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Net()
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def _cpu_state(model: Net) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


@dataclass(frozen=True)
class _EpochTraining:
    mean_loss: float
    steps: int
    seconds: float
    images: int
    stopped: bool


def train_epoch(
    model: Net,
    optimizer: torch.optim.Optimizer,
    split: MnistSplit,
    *,
    epoch: int,
    batch_size: int,
    log_interval: int,
    generator: torch.Generator,
    emit: Listener,
    step_offset: int = 0,
    channels_last: bool = False,
    control: TrainingControl | None = None,
    precision: Precision = FP32,
    scaler: torch.amp.GradScaler | None = None,
    loss_term: LossTerm | None = None,
) -> _EpochTraining:
    """One pass over `split` in shuffled batches with the seed's NLL loss.

    Emits a BatchLogged every `log_interval` batches (the seed's rule: batches 1, 1+k, …) and
    after the last; raises DivergedError when a logged loss is not finite. The forward pass and
    loss run in `precision`; backward and the SGD step update fp32 weights. `scaler` (float16
    only) scales the loss so small gradients survive, and skips a step whose gradients overflowed.
    `loss_term`, when given, is added to each step's loss (and so to the loss logged).
    """
    model.train()
    device = next(model.parameters()).device
    batches_per_epoch = math.ceil(len(split) / batch_size)
    loss_sum = torch.zeros((), device=device)
    started = last_log = time.perf_counter()
    images_since_log = images_seen = 0
    step = step_offset
    batch = 0
    for batch, (images, labels) in enumerate(
        iterate_batches(split, batch_size, shuffle=True, generator=generator), start=1
    ):
        if control is not None and _steer(control, optimizer, emit, epoch, step):
            seconds = time.perf_counter() - started
            return _EpochTraining(float(loss_sum) / max(batch - 1, 1), step - step_offset, seconds, images_seen, True)
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with precision.autocast():
            loss = _batch_loss(model, prepare_images(images, channels_last), labels, loss_term)
        _step(loss, optimizer, scaler)
        step += 1
        n = int(labels.shape[0])
        images_since_log += n
        images_seen += n
        loss_sum += loss.detach()
        if (batch - 1) % log_interval == 0 or batch == batches_per_epoch:
            position = (epoch, step, batch, batches_per_epoch)
            last_log = _log_batch(emit, optimizer, loss, position, images_since_log, last_log)
            images_since_log = 0
    mean_loss = float(loss_sum) / max(batch, 1)
    if not math.isfinite(mean_loss):
        raise DivergedError(f"the training loss became {mean_loss} during epoch {epoch}", step)
    return _EpochTraining(mean_loss, step - step_offset, time.perf_counter() - started, images_seen, False)


def _batch_loss(model: Net, images: torch.Tensor, labels: torch.Tensor, loss_term: LossTerm | None) -> torch.Tensor:
    log_probs = model(images)  # (N, 10)
    loss = F.nll_loss(log_probs, labels)
    return loss if loss_term is None else loss + loss_term(model, images, labels, log_probs)


def _steer(control: TrainingControl, optimizer: torch.optim.Optimizer, emit: Listener, epoch: int, step: int) -> bool:
    """Between batches: wait out a pause, take a new lr/momentum; True when the loop must stop."""
    if control.pause_requested and not control.stop_requested:
        _pause(control, emit, epoch, step)
    if control.stop_requested:
        return True
    changes = control.take_hyperparams()
    if changes:
        _apply_hyperparams(optimizer, changes, emit, epoch, step + 1)
    return False


def _log_batch(
    emit: Listener,
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    position: tuple[int, int, int, int],
    images: int,
    since: float,
) -> float:
    """Emit a BatchLogged for `position` (epoch, step, batch, batches per epoch); returns the time it was taken."""
    epoch, step, batch, batches_per_epoch = position
    value = loss.item()  # the only host sync of the loop, once per logged batch
    if not math.isfinite(value):
        raise DivergedError(f"the training loss became {value} at step {step} (epoch {epoch})", step)
    now = time.perf_counter()
    group = optimizer.param_groups[0]
    rate = images / max(now - since, 1e-9)
    emit(BatchLogged(epoch, step, batch, batches_per_epoch, value, rate, group["lr"], group["momentum"]))
    return now


def _step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None) -> None:
    if scaler is None:
        loss.backward()
        optimizer.step()
        return
    scaler.scale(loss).backward()
    scaler.step(optimizer)  # unscales first; skipped when a gradient is inf/NaN
    scaler.update()


def pause_point(control: TrainingControl, emit: Listener, epoch: int, step: int) -> bool:
    """A place outside the batch loop where a Pause waits (announced as the loop announces one) and a Stop
    ends the work: True when it must stop. A fine-tune's measuring steps use it between steps."""
    if control.pause_requested and not control.stop_requested:
        _pause(control, emit, epoch, step)
    return control.stop_requested


def _pause(control: TrainingControl, emit: Listener, epoch: int, step: int) -> None:
    emit(StateChanged(RunState.PAUSED, epoch=epoch, step=step))
    while control.pause_requested and not control.stop_requested:
        control.wait_while_paused()
    if not control.stop_requested:
        emit(StateChanged(RunState.RUNNING, epoch=epoch, step=step))


def _apply_hyperparams(
    optimizer: torch.optim.Optimizer, changes: dict[str, float], emit: Listener, epoch: int, step: int
) -> None:
    apply_hyperparams(optimizer, changes)
    group = optimizer.param_groups[0]  # the run's own lr (layers with an lr_scale come after)
    emit(HyperparamsChanged(epoch, step, group["lr"], group["momentum"]))


def seed_shuffle_generators(seed: int, epochs: int) -> list[torch.Generator]:
    """One generator per epoch that shuffles the training set exactly as the seed script did.

    The seed calls torch.manual_seed(seed), builds Net() (drawing its initial weights), then per
    epoch iterates a shuffling DataLoader (which draws a base seed, then its sampler's seed, from
    the global RNG) and a test DataLoader (one more draw). Replaying those draws in a forked RNG
    gives the seed's batch order for `torch.randperm(n, generator=...)` without touching ours.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        Net()
        sampler_seeds = []
        for _ in range(epochs):
            torch.empty((), dtype=torch.int64).random_()  # the training iterator's base seed
            sampler_seeds.append(int(torch.empty((), dtype=torch.int64).random_().item()))
            torch.empty((), dtype=torch.int64).random_()  # the test iterator's base seed
    return [torch.Generator().manual_seed(s) for s in sampler_seeds]


@dataclass
class _Progress:
    """How far a run has got, for however it ends."""

    epoch: int = 0
    step: int = 0
    best: float | None = None
    final: float | None = None
    model: Net | None = None


def run_training(
    config: TrainConfig,
    emit: Listener,
    *,
    control: TrainingControl | None = None,
    device: torch.device | None = None,
    data_root: str | None = None,
    train_split: MnistSplit | None = None,
    test_split: MnistSplit | None = None,
    initial_state: dict[str, torch.Tensor] | None = None,
    loss_term: LossTerm | None = None,
    lr_scales: Mapping[str, float] | None = None,
    start: StartingPoint | None = None,
) -> TrainingOutcome:
    """Train `config.epochs` epochs, testing after each, reporting everything through `emit`.

    The splits default to MNIST's (a fine-tune passes a mix of MNIST and handwriting); `initial_state`
    starts from given weights, `loss_term` is added to each step's loss and `lr_scales` slows some layers
    (a fine-tune's pulls toward its parent). `start` continues a run from the end of its epoch `start.epoch`
    (a branch): its weights and momentum, then epochs start.epoch+1..config.epochs in the run's own shuffle
    order. `device`, if the caller resolved it already, is used as is.
    Invalid configs raise ConfigError before anything starts; every later failure (missing
    data, divergence, out of memory) ends the run as FAILED with a reason instead of raising.
    """
    config.validate(
        train_size=len(train_split) if train_split is not None else MNIST_TRAIN_SIZE,
        test_size=len(test_split) if test_split is not None else MNIST_TEST_SIZE,
    )
    first = start.epoch if start is not None else 0
    if first >= config.epochs:
        raise ValueError(f"a branch from epoch {first} needs more than {first} epochs (got {config.epochs})")
    control = control or TrainingControl()
    emit(StateChanged(RunState.RUNNING))
    run = _Progress(step=start.step if start is not None else 0)
    threads_before = torch.get_num_threads()
    try:
        device = resolve_device(config.device) if device is None else device
        precision = resolve_precision(config.precision, device)
        train_split = load_split(data_root, train=True) if train_split is None else train_split
        test_split = load_split(data_root, train=False) if test_split is None else test_split
        run.model = build_model(config.seed, device, config.channels_last)
        if initial_state is not None or start is not None:
            run.model.load_state_dict(start.model_state if start is not None else initial_state)
        optimizer = make_optimizer(run.model, config, lr_scales)
        if start is not None:
            load_momentum(run.model, optimizer, start.momentum)
        setup = _Setup(
            config,
            train_split.head(config.train_limit).to(device),
            test_split.head(config.test_limit).to(device),
            optimizer,
            precision,
            precision.grad_scaler(),
            emit,
            control,
            loss_term,
        )
        shuffles = seed_shuffle_generators(config.seed, config.epochs)[first:]
        for run.epoch, shuffle in enumerate(shuffles, start=first + 1):
            stopped_after = _train_and_test(setup, run, shuffle)
            if stopped_after is not None:
                return _stopped(emit, run, stopped_after, control.stop_reason)
    except Exception as exc:
        return _failed(emit, run, _failure_reason(exc, config), step=getattr(exc, "step", 0))
    finally:
        torch.set_num_threads(threads_before)
    emit(StateChanged(RunState.FINISHED, epoch=config.epochs, step=run.step))
    return TrainingOutcome(RunState.FINISHED, None, config.epochs, run.best, run.final, run.model)


@dataclass(frozen=True)
class _Setup:
    """What stays the same through a run's epochs: its config, data (on the device), optimizer and handles."""

    config: TrainConfig
    train: MnistSplit
    test: MnistSplit
    optimizer: torch.optim.Optimizer
    precision: Precision
    scaler: torch.amp.GradScaler | None
    emit: Listener
    control: TrainingControl
    loss_term: LossTerm | None


def _train_and_test(setup: _Setup, run: _Progress, shuffle: torch.Generator) -> int | None:
    """Epoch `run.epoch`: train, test, report; the number of whole epochs done when a stop came, else None."""
    assert run.model is not None
    config, control = setup.config, setup.control
    # Chosen again each epoch, as others' load comes and goes; this run's own threads are in the load.
    threads = choose_threads(config.threads, own_threads=torch.get_num_threads() if run.epoch > 1 else 0)
    torch.set_num_threads(threads.count)
    trained = train_epoch(
        run.model,
        setup.optimizer,
        setup.train,
        epoch=run.epoch,
        batch_size=config.batch_size,
        log_interval=config.log_interval,
        generator=shuffle,
        emit=setup.emit,
        step_offset=run.step,
        channels_last=config.channels_last,
        control=control,
        precision=setup.precision,
        scaler=setup.scaler,
        loss_term=setup.loss_term,
    )
    run.step += trained.steps
    if trained.stopped:
        return run.epoch - 1
    setup.emit(EvaluationStarted(run.epoch))
    test_started = time.perf_counter()
    result = evaluate(
        run.model,
        setup.test,
        config.test_batch_size,
        channels_last=config.channels_last,
        control=control,
        precision=setup.precision,
    )
    if result is None:
        return run.epoch - 1
    _report_epoch(setup, run, trained, result, test_seconds=time.perf_counter() - test_started, threads=threads.count)
    return run.epoch if control.stop_requested else None


def _report_epoch(
    setup: _Setup, run: _Progress, trained: _EpochTraining, result: Evaluation, *, test_seconds: float, threads: int
) -> None:
    """Keep the epoch's accuracy as the run's final (and maybe best), and emit its EpochCompleted."""
    assert run.model is not None
    run.final = result.accuracy
    run.best = run.final if run.best is None else max(run.best, run.final)
    setup.emit(
        EpochCompleted(
            epoch=run.epoch,
            train_loss=trained.mean_loss,
            test_loss=result.loss,
            test_accuracy=result.accuracy,
            correct=result.correct,
            total=result.total,
            train_seconds=trained.seconds,
            test_seconds=test_seconds,
            images_per_second=trained.images / max(trained.seconds, 1e-9),
            model_state=_cpu_state(run.model),
            momentum_state=momentum_buffers(run.model, setup.optimizer),
            step=run.step,
            precision=setup.precision.name,
            threads=threads,
        )
    )


def _failure_reason(exc: Exception, config: TrainConfig) -> str:
    """One sentence for how the run failed, saying what to change where there is something to change."""
    if isinstance(exc, DivergedError):
        return f"diverged: {exc}. The learning rate or momentum is too high for this run; lower them and start again."
    if isinstance(exc, torch.OutOfMemoryError):
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        return f"out of memory on {config.device}: {first_line} Lower the batch size."
    return str(exc) if _is_plain(exc) else f"{type(exc).__name__}: {exc}"


def _is_plain(exc: Exception) -> bool:
    from resnet_mnist.core.data import DatasetError

    return isinstance(exc, DatasetError)


def _stopped(emit: Listener, run: _Progress, epochs_done: int, reason: str) -> TrainingOutcome:
    assert run.model is not None
    emit(StateChanged(RunState.STOPPED, reason, epoch=epochs_done, step=run.step, model_state=_cpu_state(run.model)))
    return TrainingOutcome(RunState.STOPPED, reason, epochs_done, run.best, run.final, run.model)


def _failed(emit: Listener, run: _Progress, reason: str, step: int = 0) -> TrainingOutcome:
    """The run ends FAILED; `step` is where it failed when known (a divergence knows), else its last epoch's end."""
    epochs_done = max(run.epoch - 1, 0)
    emit(StateChanged(RunState.FAILED, reason, epoch=epochs_done, step=step or run.step))
    return TrainingOutcome(RunState.FAILED, reason, epochs_done, run.best, run.final, None)
