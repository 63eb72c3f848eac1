"""Every run scored on the user's handwriting: accuracy, confusion and mistakes, cached per run.

The result has the same shape as the MNIST evaluation (a RunEvaluation whose mistakes index the
set's digits in labels.csv order), so the Runs page shows both alike. It is cached in the run's
folder keyed by the checkpoint file's size and mtime and by the set's content hash: a new
drawing, a relabel or a delete changes the hash, and the score is put together afresh from each
image's answer (image_scores.py), scoring only the images not seen before.

A fine-tuned run is never scored on digits it trained on: its run.json lists them by content hash,
and they are left out wherever they are (this folder, a copy, an import under another name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import torch

from resnet_mnist.core.engine import Evaluation, evaluate
from resnet_mnist.core.measure import evaluation_of
from resnet_mnist.core.model import Net
from resnet_mnist.core.precision import resolve_precision
from resnet_mnist.handwriting.decoding import load_digits
from resnet_mnist.handwriting.digits import HandwritingData, HandwritingError, HandwritingSet
from resnet_mnist.handwriting.image_scores import ImageScores, as_tensor, read_image_scores, write_image_scores
from resnet_mnist.runs.checkpoint import CheckpointError, load_checkpoint
from resnet_mnist.runs.evaluation import NUM_CLASSES, Misclassified, RunEvaluation, cached_evaluation
from resnet_mnist.runs.schema import HandwritingScoreKey, parse_handwriting_score
from resnet_mnist.runs.store import RunInfo
from resnet_mnist.runs.verdict_cache import VerdictCache, checkpoint_stamp

__all__ = [
    "HANDWRITING_SCORE_CACHE",
    "HANDWRITING_SCORE_FILE",
    "NothingToScoreError",
    "evaluation_from",
    "handwriting_accuracies",
    "score_model",
    "score_run",
    "trained_on",
]

HANDWRITING_SCORE_FILE = "handwriting.json"
HANDWRITING_SCORE_CACHE = VerdictCache(HANDWRITING_SCORE_FILE, "resnet-mnist-handwriting-score/1")


class NothingToScoreError(HandwritingError):
    """The run was fine-tuned on every digit of the set: scoring it there would not be honest."""


def trained_on(run: RunInfo) -> frozenset[str]:
    """Content hashes of the handwriting digits a fine-tuned run trained on (empty for other runs)."""
    split = (run.teach or {}).get("split") or {}
    hashes = split.get("trained_sha256") or []
    return frozenset(h for h in hashes if isinstance(h, str))


def score_model(model: Net, data: HandwritingData, precision: str = "fp32") -> Evaluation:
    """The model's answers on the set (the engine's test pass, on the set instead of MNIST's).

    `precision` is the run's own choice (its config's), so the score is what the run itself would give.
    """
    device = next(model.parameters()).device
    result = evaluate(model, data.split.to(device), batch_size=1000, precision=resolve_precision(precision, device))
    assert result is not None  # no control given, so it cannot be stopped midway
    return result


def evaluation_from(
    result: Evaluation, labels: torch.Tensor, *, run_id: str, epoch: int, indices: list[int] | None = None
) -> RunEvaluation:
    """A test pass's predictions as confusion matrix and mistakes (most confident first).

    `indices` maps each scored digit to its place in the whole set (mistakes name that place).
    """
    where = indices if indices is not None else list(range(len(labels)))
    predictions, confidences = result.predictions, result.confidences  # (N,), (N,)
    confusion = torch.bincount(labels * NUM_CLASSES + predictions, minlength=NUM_CLASSES**2)
    wrong = torch.nonzero(predictions != labels).flatten()
    order = torch.argsort(confidences[wrong], descending=True, stable=True)
    return RunEvaluation(
        run_id=run_id,
        total=result.total,
        correct=result.correct,
        loss=result.loss,
        confusion=tuple(tuple(int(v) for v in row) for row in confusion.reshape(NUM_CLASSES, NUM_CLASSES).tolist()),
        misclassified=tuple(
            Misclassified(where[int(i)], int(labels[i]), int(predictions[i]), float(confidences[i]))
            for i in wrong[order]
        ),
        test_limit=None,
        checkpoint_epoch=epoch,
        computed_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _key(run: RunInfo, hset: HandwritingSet) -> HandwritingScoreKey:
    size, mtime_ns = checkpoint_stamp(run.checkpoint_path)
    return HandwritingScoreKey(size=size, mtime_ns=mtime_ns, set=hset.fingerprint)


def _read_cache(run: RunInfo, key: HandwritingScoreKey, set_size: int) -> RunEvaluation | None:
    """The cached score when it is for this checkpoint and set, and reads as one (schema.py); else None."""
    record = HANDWRITING_SCORE_CACHE.read(
        run.path,
        key,
        lambda raw: parse_handwriting_score(raw, HANDWRITING_SCORE_FILE, set_size=set_size, classes=NUM_CLASSES),
    )
    return None if record is None else cached_evaluation(record, run.id, test_limit=None)


def score_run(
    run: RunInfo, hset: HandwritingSet, *, progress: Callable[[int, int], None] | None = None
) -> RunEvaluation:
    """The run's checkpoint on the set's digits it never trained on, cached until either changes; each
    image's answer is kept too (image_scores.py), so after an edit only new images are scored, with
    `progress(done, total)` called as they are.

    Raises CheckpointError without a usable checkpoint, HandwritingError for a bad image, and
    NothingToScoreError when a fine-tune trained on every digit of the set.
    """
    excluded = trained_on(run)
    keep = [i for i, digit in enumerate(hset.digits) if digit.sha256 not in excluded]
    if not keep:
        raise NothingToScoreError(
            f"this run was fine-tuned on all {len(hset)} of these digits, so none is left to score it on"
        )
    key = _key(run, hset) if run.has_checkpoint else None
    if key is not None:
        cached = _read_cache(run, key, len(hset))
        if cached is not None:
            return cached
    stamp = checkpoint_stamp(run.checkpoint_path)
    scores = _scores_for(run, hset, keep, stamp, progress)
    hashes = [hset.digits[i].sha256 for i in keep]
    labels = torch.tensor([hset.digits[i].label for i in keep], dtype=torch.int64)
    evaluation = evaluation_from(
        evaluation_of(as_tensor(scores, hashes), labels), labels, run_id=run.id, epoch=scores.epoch, indices=keep
    )
    if key is not None and run.path.is_dir() and _key(run, hset) == key:
        HANDWRITING_SCORE_CACHE.write(run.path, key, evaluation)
    return evaluation


def _scores_for(
    run: RunInfo,
    hset: HandwritingSet,
    keep: list[int],
    stamp: tuple[int, int],
    progress: Callable[[int, int], None] | None,
) -> ImageScores:
    """The run's answers on the digits `keep`, scoring only the images its per-image cache lacks."""
    scores = read_image_scores(run.path, stamp) or ImageScores()
    missing = [i for i in keep if hset.digits[i].sha256 not in scores]  # read_set hashes every file
    if not missing:
        return scores
    checkpoint = load_checkpoint(run.checkpoint_path)
    images = load_digits(hset).split.images[torch.as_tensor(missing, dtype=torch.long)]  # (M, 1, 28, 28)
    answers = _log_probs(checkpoint.build_model(), images, checkpoint.config.precision, progress)  # (M, 10)
    scores.epoch = checkpoint.epoch
    scores.update({hset.digits[i].sha256: row for i, row in zip(missing, answers.numpy(), strict=True)})
    if run.path.is_dir() and checkpoint_stamp(run.checkpoint_path) == stamp:
        write_image_scores(run.path, stamp, scores, [d.sha256 for d in hset.digits])
    return scores


@torch.no_grad()
def _log_probs(
    model: Net, images: torch.Tensor, precision: str, progress: Callable[[int, int], None] | None
) -> torch.Tensor:
    """The model's log-probabilities (N, 10) on `images`, in the run's precision, 256 at a time."""
    model.eval()
    device = next(model.parameters()).device
    compute = resolve_precision(precision, device)
    out = []
    for chunk in images.split(256):
        with compute.autocast():
            out.append(model(chunk.to(device)).float().cpu())
        if progress is not None:
            progress(sum(len(o) for o in out), len(images))
    return torch.cat(out) if out else torch.empty((0, NUM_CLASSES))


def handwriting_accuracies(runs: Iterable[RunInfo], hset: HandwritingSet) -> dict[str, float]:
    """Run id → accuracy on the set, for every run with a usable checkpoint (from each run's cache)."""
    scores = {}
    for run in runs:
        if not run.has_checkpoint:
            continue
        try:
            scores[run.id] = score_run(run, hset).accuracy
        except (CheckpointError, NothingToScoreError, OSError):
            continue  # the Runs page lists what is wrong with such runs elsewhere
    return scores
