"""The run doctor: a diagnosis of an ended run from its recorded history, and a remedy that is a branch.

Pure: it reads a run's record (state, reason, config) and its metrics (per-epoch losses and accuracy,
logged batch losses) and says one of four things, checked in this order:

- **diverged**: the run failed because the loss became NaN or infinite, or the training loss exploded past
  EXPLODED_LOSS (three times chance, ln 10 ≈ 2.30: a network that only guessed would sit at chance, so
  far above it the weights are being thrown around, not learned). Remedy: branch from the epoch before it
  happened (0: start again from the seed's weights) with a third of the lr.
- **stalled**: the training loss is still above STALLED_LOSS (under half the way from chance to zero) and
  fell less than STALLED_FALL (10%) from the first logged batch to the last epoch: the steps are too small
  to move it. The floor keeps a run that starts low (a branch of a trained model) from reading as stalled.
  Remedy: branch from the last epoch with 10x the lr, for as many epochs again.
- **overfitting**: the test loss rose at least OVERFIT_RISE (10%) above its lowest epoch while the training
  loss went on falling: the network learns its training images, not digits. Remedy: branch from the epoch
  with the lowest test loss with a tenth of the lr.
- **healthy**: none of these.

A run still being trained, or one that ended before any epoch without diverging, gets no diagnosis (None).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from resnet_mnist.core.events import RunState
from resnet_mnist.core.settings import rounded
from resnet_mnist.runs.schema import EpochRecord, RunMetrics, RunRecord

__all__ = [
    "CHANCE_LOSS",
    "EXPLODED_LOSS",
    "OVERFIT_RISE",
    "STALLED_FALL",
    "STALLED_LOSS",
    "Diagnosis",
    "Remedy",
    "diagnose",
]

CHANCE_LOSS = math.log(10)  # the NLL of a uniform guess over 10 digits: where an untrained network starts
EXPLODED_LOSS = 3 * CHANCE_LOSS  # a training loss above this (epoch mean or logged batch) has exploded
STALLED_LOSS = CHANCE_LOSS / 2  # still above this at the end: it has not learned half the way from chance
STALLED_FALL = 0.10  # ... and the training loss fell less than this share over the run: stalled
OVERFIT_RISE = 0.10  # the test loss this share above its lowest epoch while the training loss fell: overfitting
DIVERGED_LR_SHARE = 1 / 3  # a diverged run's remedy: a third of the lr
STALLED_LR_FACTOR = 10.0  # a stalled run's remedy: 10x the lr
OVERFIT_LR_SHARE = 0.1  # an overfitting run's remedy: a tenth of the lr

Label = Literal["healthy", "diverged", "stalled", "overfitting"]


@dataclass(frozen=True)
class Remedy:
    """A branch to try: from the end of `from_epoch` (0: the seed's fresh weights) with `changes` to the settings."""

    from_epoch: int
    changes: dict[str, Any] = field(default_factory=dict)
    text: str = ""


@dataclass(frozen=True)
class Diagnosis:
    """What the doctor says about a run: the label, the evidence in one sentence, and a remedy (None: healthy)."""

    diagnosis: Label
    evidence: str
    remedy: Remedy | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def diagnose(record: RunRecord, metrics: RunMetrics) -> Diagnosis | None:
    """The run's diagnosis from its record and metrics; None while it runs or when it ended too early to tell."""
    if not record.state.is_final:
        return None
    epochs = list(metrics.epochs)
    verdict = _diverged(record, metrics, epochs)
    if verdict is None and epochs:
        verdict = _stalled(record, metrics, epochs) or _overfitting(record, epochs) or _healthy(metrics, epochs)
    return verdict


def _diverged(record: RunRecord, metrics: RunMetrics, epochs: list[EpochRecord]) -> Diagnosis | None:
    lr = record.config.lr
    if record.state is RunState.FAILED and (record.reason or "").startswith("diverged"):
        epoch = (epochs[-1].epoch if epochs else _first_epoch(record, metrics) - 1) + 1
        evidence = "the training loss became NaN or infinite and the run failed there"
        return _diverged_at(epoch, evidence, lr, epochs)
    exploded = [(e.epoch, e.train_loss) for e in epochs if e.train_loss is not None and e.train_loss > EXPLODED_LOSS]
    exploded += [(b.epoch, b.loss) for b in metrics.batches if b.loss > EXPLODED_LOSS]
    if not exploded:
        return None
    epoch = min(e for e, _ in exploded)
    peak = max(loss for e, loss in exploded if e == epoch)
    end = f", and it ended at {100 * epochs[-1].test_accuracy:.1f}% test accuracy" if epochs else ""
    evidence = f"the training loss exploded to {peak:.3g} (chance is {CHANCE_LOSS:.2f}){end}"
    return _diverged_at(epoch, evidence, lr, epochs)


def _diverged_at(epoch: int, evidence: str, lr: float, epochs: list[EpochRecord]) -> Diagnosis:
    """Branch from the last epoch before `epoch` that this run (or, at 0, nothing) ended: a third of the lr."""
    before = max((e.epoch for e in epochs if e.epoch < epoch), default=0)
    new_lr = _round(lr * DIVERGED_LR_SHARE)
    text = f"branch from epoch {before} with a third of the lr ({new_lr:g})"
    if before == 0:
        text = f"start again from the seed's weights (epoch 0) with a third of the lr ({new_lr:g})"
    remedy = Remedy(before, {"lr": new_lr}, text)
    return Diagnosis("diverged", f"Diverged in epoch {epoch}: {evidence}.", remedy)


def _stalled(record: RunRecord, metrics: RunMetrics, epochs: list[EpochRecord]) -> Diagnosis | None:
    last = epochs[-1]
    first = metrics.batches[0].loss if metrics.batches else epochs[0].train_loss
    if first is None or last.train_loss is None or last.train_loss <= STALLED_LOSS:
        return None
    fall = (first - last.train_loss) / first
    if fall >= STALLED_FALL:
        return None
    config = record.config
    new_lr = _round(config.lr * STALLED_LR_FACTOR)
    remedy = Remedy(
        last.epoch,
        {"lr": new_lr, "epochs": last.epoch + config.epochs},
        f"branch from epoch {last.epoch} with 10x the lr ({new_lr:g}) for {config.epochs} more epochs",
    )
    evidence = (
        f"Stalled: the training loss went from {first:.3f} to {last.train_loss:.3f} over {last.epoch} "
        f"epoch{'s' if last.epoch != 1 else ''} ({100 * fall:.1f}% lower; chance is {CHANCE_LOSS:.2f})."
    )
    return Diagnosis("stalled", evidence, remedy)


def _overfitting(record: RunRecord, epochs: list[EpochRecord]) -> Diagnosis | None:
    tested = [e for e in epochs if e.test_loss is not None and e.train_loss is not None]
    if len(tested) < 2:
        return None
    best = min(tested, key=lambda e: e.test_loss)  # type: ignore[arg-type,return-value]
    last = tested[-1]
    assert best.test_loss is not None and last.test_loss is not None
    assert best.train_loss is not None and last.train_loss is not None
    if last.test_loss < best.test_loss * (1 + OVERFIT_RISE) or last.train_loss >= best.train_loss:
        return None
    new_lr = _round(record.config.lr * OVERFIT_LR_SHARE)
    remedy = Remedy(best.epoch, {"lr": new_lr}, f"branch from epoch {best.epoch} with a tenth of the lr ({new_lr:g})")
    evidence = (
        f"Overfitting: the test loss rose from {best.test_loss:.3f} (epoch {best.epoch}) to {last.test_loss:.3f} "
        f"(epoch {last.epoch}) while the training loss fell from {best.train_loss:.3g} to {last.train_loss:.3g}."
    )
    return Diagnosis("overfitting", evidence, remedy)


def _healthy(metrics: RunMetrics, epochs: list[EpochRecord]) -> Diagnosis:
    first = metrics.batches[0].loss if metrics.batches else None
    last = epochs[-1]
    went = "fell" if first and last.train_loss and last.train_loss < first else "went"  # a branch starts low
    fell = f"the training loss {went} from {first:.3f} to {last.train_loss:.3f}" if first and last.train_loss else ""
    reached = f"test accuracy reached {100 * last.test_accuracy:.2f}% after epoch {last.epoch}"
    return Diagnosis("healthy", f"Healthy: {fell + ' and ' if fell else ''}{reached}, with no sign of trouble.")


def _first_epoch(record: RunRecord, metrics: RunMetrics) -> int:
    """The epoch a run's training began in: after its parent's epoch for a branch, else 1."""
    if metrics.batches:
        return metrics.batches[0].epoch
    branched = record.branched_from
    return branched[1] + 1 if branched else 1


def _round(value: float) -> float:
    """Three significant digits: lr 0.0167, not 0.016666666666666666."""
    return rounded(value)
