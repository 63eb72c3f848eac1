"""Teach a trained model the user's handwriting: a fine-tune branched from a run, measured honestly.

The new run starts from the parent's weights and trains a few epochs on the handwriting digits
mixed with MNIST training images (so it learns the style without forgetting MNIST), through the
same engine, events and recorder as any run. Before and after are measured on handwriting digits
the fine-tune never trained on: a fixed, deterministic split (stratified by digit, ordered by a
hash of each file name), or k-fold cross-validation when the set is small, and on the MNIST test set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from resnet_mnist.core.config import MAX_EPOCHS, ConfigError, ConfigProblem, TrainConfig
from resnet_mnist.core.data import MnistSplit, load_split
from resnet_mnist.core.engine import TrainingControl, evaluate, pause_point, run_training
from resnet_mnist.core.events import Event, Listener, Measuring, RunState, StateChanged, fan_out
from resnet_mnist.core.model import Net
from resnet_mnist.core.precision import resolve_precision
from resnet_mnist.handwriting.best_epoch import WATCH_IMAGES, BestEpoch
from resnet_mnist.handwriting.decoding import load_digits
from resnet_mnist.handwriting.digits import HandwritingData, HandwritingSet
from resnet_mnist.handwriting.holdout import KFOLD_BELOW, HeldOutPlan, Method, plan_holdout
from resnet_mnist.handwriting.retain import ParentPull
from resnet_mnist.handwriting.scores import score_model
from resnet_mnist.runs.checkpoint import load_checkpoint
from resnet_mnist.runs.store import RunNotFoundError, RunStore

__all__ = [
    "KFOLD_BELOW",
    "MNIST_WARN_DROP",
    "HeldOutPlan",
    "TeachJob",
    "TeachReport",
    "TeachSettings",
    "plan_holdout",
    "prepare_teach",
]

EARLY_LAYERS = ("conv1", "res_block_1")  # Net's modules before the second conv: strokes and their parts
STOPPED_MEASURING = "stopped while measuring: the taught model is complete and kept; its handwriting score is missing"
MNIST_WARN_DROP = 0.005  # a fine-tune that loses more of MNIST's test set than this (half a point) is flagged
MNIST_MIX_MAX = 60_000 - WATCH_IMAGES  # the training images but the watch slice, which teach never trains on


@dataclass(frozen=True)
class TeachSettings:
    """How to teach: epochs, the held-out fraction, the optimizer, how much MNIST to mix in, how to keep it.

    The defaults are bench/teach_methods.py's pick (README: Teach without forgetting). Half the parent's own
    lr, at its own momentum: a larger step than a model was trained with makes it unstable (the seed's
    recipe's models lost 2–4 MNIST points at lr 0.01 with momentum 0.9, some diverged), and at its full lr
    the seed's 1-epoch model still lost 0.23 of a point on the styled set. The epoch that reads held-out
    MNIST best is kept: one run in four of that model lost a point by its third epoch, whatever the step.
    """

    epochs: int = 3
    holdout: float = 0.25  # fraction of each digit's examples held out (k = 1/holdout folds for small sets)
    lr: float | None = None  # None: lr_share of the parent's own
    lr_share: float = 0.5  # with lr None, the share of the parent's own lr (a smaller step forgets less MNIST)
    momentum: float | None = None  # None: the parent's own
    mnist_images: int = 3000  # MNIST training images mixed into every epoch
    handwriting_share: float = 0.75  # the handwriting's share of each epoch (its digits are repeated)
    distill: float = 2.0  # weight of the parent's answers on replayed MNIST beside the labels' loss (retain.py)
    replay: int = 256  # MNIST training images drawn each step to keep the parent's answers on (0: none)
    temperature: float = 2.0  # softens both models' answers before they are compared (Hinton's T)
    early_lr: float = 0.1  # the first conv's and residual block's share of the lr (1: as the rest)
    keep_best: bool = True  # keep the epoch that reads held-out MNIST training images best (best_epoch.py)
    test_limit: int | None = None  # MNIST test images for before/after (None: all 10,000)
    device: str = "auto"

    def problems(self) -> list[ConfigProblem]:
        found = []
        if not 0 <= self.holdout < 1:
            found.append(ConfigProblem("holdout", f"holdout must be in [0, 1) (got {self.holdout})"))
        if not 0 < self.handwriting_share < 1:
            found.append(ConfigProblem("handwriting_share", f"must be in (0, 1) (got {self.handwriting_share})"))
        if not 0 <= self.mnist_images <= MNIST_MIX_MAX:
            found.append(ConfigProblem("mnist_images", f"must be 0 to {MNIST_MIX_MAX} (got {self.mnist_images})"))
        if not 1 <= self.epochs <= MAX_EPOCHS:
            found.append(ConfigProblem("epochs", f"number of epochs must be 1 to {MAX_EPOCHS} (got {self.epochs})"))
        if not 0 <= self.distill <= 10:
            found.append(ConfigProblem("distill", f"must be 0 to 10 (got {self.distill})"))
        if not 0 <= self.replay <= 1024:
            found.append(ConfigProblem("replay", f"must be 0 to 1024 (got {self.replay})"))
        if not 0 < self.lr_share <= 1:
            found.append(ConfigProblem("lr_share", f"must be in (0, 1] (got {self.lr_share})"))
        if not 0.5 <= self.temperature <= 10:
            found.append(ConfigProblem("temperature", f"must be 0.5 to 10 (got {self.temperature})"))
        if not 0 <= self.early_lr <= 1:
            found.append(ConfigProblem("early_lr", f"must be in [0, 1] (got {self.early_lr})"))
        return found


@dataclass(frozen=True)
class TeachReport:
    """Before and after, on held-out handwriting (None when nothing is held out) and on MNIST's test set."""

    state: str
    method: Method
    held_out: int
    handwriting_before: float | None
    handwriting_after: float | None
    mnist_before: float
    mnist_after: float | None
    mnist_total: int
    reason: str | None = None
    kept_epoch: int | None = None  # the epoch kept as the new model (keep_best), None when it is the last
    epochs: int | None = None  # the epochs the fine-tune trained

    @property
    def kept_note(self) -> str | None:
        """A sentence when an earlier epoch than the last is the new model."""
        if self.kept_epoch is None:
            return None
        return (
            f"Kept epoch {self.kept_epoch} of {self.epochs}: it read best the {WATCH_IMAGES:,} held-out MNIST "
            "training images that choose the epoch. The test set is never used to choose, so its figures stay honest."
        )

    @property
    def mnist_change(self) -> float | None:
        """MNIST accuracy after minus before (None when there is no after)."""
        return None if self.mnist_after is None else self.mnist_after - self.mnist_before

    @property
    def warning(self) -> str | None:
        """A sentence when the new model reads MNIST more than half a point worse than its parent."""
        change = self.mnist_change
        if change is None or change >= -MNIST_WARN_DROP - 1e-9:  # exactly half a point (in floats) is not more
            return None
        return (
            f"The new model forgot some of MNIST: {100 * self.mnist_before:.2f}% → {100 * self.mnist_after:.2f}% "
            f"({100 * change:+.2f} points) on {self.mnist_total:,} test images. It reads other people's digits "
            "worse than the model it came from."
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mnist_change": self.mnist_change, "warning": self.warning, "kept_note": self.kept_note}


@dataclass(frozen=True)
class TeachJob:
    """Everything a fine-tune needs, prepared and validated; the worker (a resnet_mnist.jobs.job.Job) and the CLI
    run `execute`."""

    config: TrainConfig
    name: str
    parent: dict[str, Any]
    initial_state: dict[str, torch.Tensor]
    hset: HandwritingSet
    data: HandwritingData
    plan: HeldOutPlan
    mnist_mix: MnistSplit
    mnist_test: MnistSplit
    settings: TeachSettings
    replay_pool: MnistSplit | None = None  # MNIST training images the parent's answers are kept on, step by step
    watch: MnistSplit | None = None  # MNIST training images never trained on: which epoch to keep (keep_best)

    def validate(self, *_: object) -> TrainConfig:
        """The config checked against this job's own data sizes (the worker calls it before starting)."""
        return self.config.validate(len(self.training_split(self.plan.train)), len(self.mnist_test))

    def run_fields(self) -> dict[str, Any]:
        """What run.json records from the start: the parent, and which digits were held out."""
        return {
            "parent": self.parent,
            "teach": {
                "handwriting": str(self.hset.root),
                "fingerprint": self.hset.fingerprint,
                "split": self.plan.to_dict(self.hset),
                # As asked, with the lr and momentum used (lr_share of the parent's lr, its momentum, when none
                # was asked: a run taught again steps at half of that).
                "settings": {**asdict(self.settings), "lr": self.config.lr, "momentum": self.config.momentum},
                "mix": self.mix(),  # the share actually used: with many digits, more than settings ask
                "report": None,
            },
        }

    def describe(self) -> str:
        """What the Train page says the job is: which run (or checkpoint), at which epoch, it teaches."""
        parent = self.parent.get("run") or self.parent.get("checkpoint")
        return f"Teaching {parent} (epoch {self.parent.get('epoch')}) your handwriting"

    def lr_scales(self) -> dict[str, float]:
        """The early layers' share of the lr: the strokes' features MNIST needs move least."""
        return {name: self.settings.early_lr for name in EARLY_LAYERS} if self.settings.early_lr != 1 else {}

    def loss_term(self) -> ParentPull | None:
        """What keeps the parent's MNIST while it learns the new hand (retain.py), None when nothing does."""
        if self.settings.distill <= 0 or not self.settings.replay or self.replay_pool is None:
            return None
        return ParentPull(
            self.initial_state,
            distill=self.settings.distill,
            replay=self.replay_pool,
            replay_batch=self.settings.replay,
            temperature=self.settings.temperature,
            seed=self.config.seed,
        )

    def _repeats(self, digits: int) -> int:
        """How often each of `digits` digits is repeated to come near its share of an epoch (at least once)."""
        share = self.settings.handwriting_share
        return max(1, round(share / (1 - share) * len(self.mnist_mix) / max(digits, 1)))

    def mix(self) -> dict[str, Any]:
        """What each epoch of the delivered run holds: its handwriting images, MNIST images and their real share."""
        handwriting, mnist = len(self.plan.train) * self._repeats(len(self.plan.train)), len(self.mnist_mix)
        share = handwriting / (handwriting + mnist) if handwriting + mnist else 0.0
        return {"handwriting_images": handwriting, "mnist_images": mnist, "handwriting_share": share}

    def training_split(self, indices: tuple[int, ...]) -> MnistSplit:
        """The handwriting digits at `indices`, repeated to their share of the epoch, then the MNIST images."""
        index = torch.as_tensor(indices, dtype=torch.long)
        repeats = self._repeats(len(indices))
        images = self.data.split.images[index].repeat(repeats, 1, 1, 1)  # (k·r, 1, 28, 28)
        labels = self.data.split.labels[index].repeat(repeats)
        return MnistSplit(torch.cat([images, self.mnist_mix.images]), torch.cat([labels, self.mnist_mix.labels]))

    def held_out_split(self, indices: tuple[int, ...]) -> MnistSplit:
        index = torch.as_tensor(indices, dtype=torch.long)
        return MnistSplit(self.data.split.images[index], self.data.split.labels[index])

    def execute(
        self,
        emit: Listener,
        *,
        control: TrainingControl | None = None,
        annotate: Any = None,
        device: torch.device | None = None,
    ) -> TeachReport:
        """Measure the parent, fine-tune on `device` (reporting through `emit`), measure the result; returns the
        report, which `annotate(key, value)` also records in run.json."""
        control = control or TrainingControl()
        parent = self._parent_model()
        before_indices = self.plan.held_out if self.plan.method == "fixed" else self.plan.train
        hw_before = (
            None
            if self.plan.method == "none"
            else _accuracy(parent, self.config.precision, self.held_out_split(before_indices))
        )
        mnist_before = _accuracy(parent, self.config.precision, self.mnist_test)
        ending = _EndHeld(emit)  # the run is not finished until it is measured
        keeper = self._keeper()
        outcome = run_training(
            self.config,
            _also_to(ending, keeper),
            control=control,
            train_split=self.training_split(self.plan.train),
            test_split=self.mnist_test,
            initial_state=self.initial_state,
            device=device,
            loss_term=self.loss_term(),
            lr_scales=self.lr_scales(),
        )
        outcome, kept_epoch = _kept(outcome, keeper)
        hw_after, mnist_after, cut_short = self._measure(outcome, control, emit)
        state = RunState.STOPPED if cut_short else outcome.state
        reason = STOPPED_MEASURING if cut_short else outcome.reason
        report = TeachReport(
            state.value,
            self.plan.method,
            len(before_indices) if self.plan.method != "none" else 0,
            hw_before,
            hw_after,
            mnist_before,
            mnist_after,
            len(self.mnist_test),
            reason,
            kept_epoch,
            self.config.epochs,
        )
        if annotate is not None:
            annotate("teach", {**self.run_fields()["teach"], "report": report.to_dict()})
        kept = (keeper.state, kept_epoch) if keeper is not None and kept_epoch is not None else None
        ending.release(state, reason, kept)
        return report

    def _keeper(self) -> BestEpoch | None:
        """What picks the epoch to keep (keep_best with a watch slice), else None: the last epoch is kept."""
        if not self.settings.keep_best or self.watch is None or self.config.epochs < 2:
            return None
        return BestEpoch(self.watch, self.config.precision)

    def _measure(
        self, outcome: Any, control: TrainingControl, emit: Listener
    ) -> tuple[float | None, float | None, bool]:
        """(handwriting after, MNIST after, stopped while measuring), announcing each step through `emit`."""
        model = outcome.model
        if model is None:
            return None, None, False
        folds = self.plan.folds if self.plan.method == "kfold" and outcome.state is RunState.FINISHED else ()
        total = 1 + (self.plan.method == "fixed") + len(folds)
        epoch = outcome.epochs_completed
        emit(Measuring("the taught model on MNIST's test set", 0, total))
        if pause_point(control, emit, epoch, 0):  # Pause and Stop work here too, not only in the folds
            return None, None, True
        mnist_after = _accuracy(model, self.config.precision, self.mnist_test)
        if self.plan.method == "fixed":
            emit(Measuring("the taught model on your held-out digits", 1, total))
            if pause_point(control, emit, epoch, 0):
                return None, mnist_after, True
            return _accuracy(model, self.config.precision, self.held_out_split(self.plan.held_out)), mnist_after, False
        if not folds:
            return None, mnist_after, False
        hw_after = self._cross_validated(control, emit, total)
        return hw_after, mnist_after, hw_after is None

    def _parent_model(self) -> Net:
        model = Net()
        model.load_state_dict(self.initial_state)
        return model.eval()

    def _cross_validated(self, control: TrainingControl, emit: Listener, total: int) -> float | None:
        """Pooled accuracy of k fine-tunes, each trained without one fold and scored on it alone; None if stopped.

        Each is announced through `emit`, and a pause or resume of one reaches it (the run reads paused);
        its batches and epochs do not: these fine-tunes are measurements, not runs.
        """
        correct = total_digits = 0
        for number, fold in enumerate(self.plan.folds, start=1):
            emit(Measuring(f"fold {number} of {len(self.plan.folds)}: a fine-tune without those digits", number, total))
            rest = tuple(i for i in self.plan.train if i not in set(fold))
            held = self.held_out_split(fold)
            keeper = self._keeper()  # each fold's fine-tune keeps its epoch as the run does
            outcome = run_training(
                self.config.with_changes(test_batch_size=max(len(held), 1), test_limit=None),
                _also_to(_pauses_only(emit), keeper),
                control=control,
                train_split=self.training_split(rest),
                test_split=held,
                initial_state=self.initial_state,
                loss_term=self.loss_term(),
                lr_scales=self.lr_scales(),
            )
            outcome, _ = _kept(outcome, keeper)
            if outcome.model is None or outcome.state is not RunState.FINISHED:
                return None
            result = score_model(
                outcome.model, HandwritingData(held, self.data.pixels[list(fold)]), self.config.precision
            )
            correct, total_digits = correct + result.correct, total_digits + result.total
        return correct / total_digits if total_digits else None


class _EndHeld:
    """Passes a run's events on, except its final state, which `release` sends once the job is measured."""

    def __init__(self, emit: Listener) -> None:
        self._emit = emit
        self._final: StateChanged | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, StateChanged) and event.state.is_final:
            self._final = event
        else:
            self._emit(event)

    def release(
        self, state: RunState, reason: str | None, kept: tuple[dict[str, torch.Tensor] | None, int] | None = None
    ) -> None:
        """The held final state, or `state` (stopped while measuring) in its place; `kept`: (weights, epoch) of
        the epoch kept as the run's model, when it is not the last."""
        final = self._final
        if final is None:
            return
        if state is not final.state:  # stopped while measuring: the model measured so far is the one kept
            final = StateChanged(state, reason, epoch=final.epoch, step=final.step)
        if kept is not None:
            final = replace(final, model_state=kept[0], kept_epoch=kept[1])
        self._emit(final)


def _also_to(listener: Listener, keeper: BestEpoch | None) -> Listener:
    """`listener`, and the keeper too when an epoch is to be chosen."""
    return listener if keeper is None else fan_out(listener, keeper)


def _kept(outcome: Any, keeper: BestEpoch | None) -> tuple[Any, int | None]:
    """`outcome` with the kept epoch's model in place of the last's, and that epoch; (outcome, None) when a
    finished run keeps its last epoch (or nothing picks one)."""
    if keeper is None or outcome.state is not RunState.FINISHED or keeper.epoch in (None, outcome.epochs_completed):
        return outcome, None
    model = keeper.model()
    assert model is not None
    device = next(outcome.model.parameters()).device if outcome.model is not None else torch.device("cpu")
    return replace(outcome, model=model.to(device)), keeper.epoch


def _pauses_only(emit: Listener) -> Listener:
    """A measuring fine-tune's events for the job: its pauses and resumes only."""

    def forward(event: Event) -> None:
        if isinstance(event, StateChanged) and event.state in (RunState.PAUSED, RunState.RUNNING):
            emit(event)

    return forward


def _accuracy(model: Net, precision: str, split: MnistSplit) -> float:
    """Accuracy on `split` in the fine-tune's precision (the parent's, kept by prepare_teach)."""
    device = next(model.parameters()).device
    result = evaluate(model, split.to(device), batch_size=1000, precision=resolve_precision(precision, device))
    assert result is not None  # no control given, so it cannot be stopped midway
    return result.accuracy


def _parent_checkpoint(source: str | Path, store: RunStore) -> tuple[dict[str, Any], Any, str]:
    """(parent record, checkpoint, label) for a run id in `store` or a checkpoint file's path."""
    text = str(source)
    try:
        run = store.get(text)
    except (RunNotFoundError, ValueError):
        run = None
    if run is not None:
        checkpoint = load_checkpoint(run.checkpoint_path)
        return {"run": run.id, "checkpoint": str(run.checkpoint_path), "epoch": checkpoint.epoch}, checkpoint, run.label
    checkpoint = load_checkpoint(Path(text))  # CheckpointError: "no checkpoint file at …" for an unknown id too
    return {"run": None, "checkpoint": text, "epoch": checkpoint.epoch}, checkpoint, Path(text).name


def prepare_teach(
    source: str | Path,
    hset: HandwritingSet,
    *,
    store: RunStore,
    settings: TeachSettings = TeachSettings(),
    data_root: str | Path | None = None,
) -> TeachJob:
    """A fine-tune of `source` (a run id or a checkpoint path) on `hset`, every input checked first.

    Raises ConfigError for bad settings, CheckpointError, HandwritingError or DatasetError for bad inputs.
    """
    problems = settings.problems()
    if problems:
        raise ConfigError(problems)
    parent, checkpoint, label = _parent_checkpoint(source, store)
    data = load_digits(hset)
    plan = plan_holdout(hset, settings.holdout)
    config = checkpoint.config.with_changes(
        epochs=settings.epochs,
        lr=checkpoint.config.lr * settings.lr_share if settings.lr is None else settings.lr,
        momentum=checkpoint.config.momentum if settings.momentum is None else settings.momentum,
        train_limit=None,
        test_limit=settings.test_limit,
        device=settings.device,
    )
    train = load_split(data_root, train=True)
    pool = train.head(len(train) - WATCH_IMAGES)  # the mix and the replay never draw the watch slice (a view)
    pick = torch.randperm(len(pool), generator=torch.Generator().manual_seed(config.seed))[: settings.mnist_images]
    job = TeachJob(
        config=config,
        name=f"{label} + my handwriting",
        parent=parent,
        initial_state=checkpoint.state_dict,
        hset=hset,
        data=data,
        plan=plan,
        mnist_mix=MnistSplit(pool.images[pick], pool.labels[pick]),
        mnist_test=load_split(data_root, train=False, limit=settings.test_limit),
        settings=settings,
        replay_pool=pool,
        watch=MnistSplit(train.images[len(pool) :], train.labels[len(pool) :]),
    )
    job.validate()
    return job
