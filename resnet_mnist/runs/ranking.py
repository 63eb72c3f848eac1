"""Which saved run is the best: the one the runs table marks, Draw and Teach offer first and the Overview names;
and the ranking behind it, which the Draw page's line-up starts from.

One rule for every page: among runs that ended well (finished, or stopped by the person with the
weights kept), the highest best test accuracy wins, the newer of two equal ones. A failed run, or one
still training or cut off by a server stop, is never "best". Another score (e.g. on the person's own
handwriting) can rank instead through `score`; runs it cannot score rank after those it can.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from resnet_mnist.core.events import RunState
from resnet_mnist.runs.store import RunInfo

__all__ = ["RANKED_STATES", "best_run", "ranked_runs", "test_accuracy_score"]

RANKED_STATES = (RunState.FINISHED, RunState.STOPPED)

Score = Callable[[RunInfo], float | None]


def test_accuracy_score(run: RunInfo) -> float | None:
    """The run's best test accuracy (0..1), None if it has none."""
    return run.best_accuracy


def ranked_runs(
    runs: Iterable[RunInfo], *, score: Score = test_accuracy_score, needs_checkpoint: bool = False
) -> list[RunInfo]:
    """The finished or stopped runs that `score` can score, best first (ties: the newest first).

    `needs_checkpoint` keeps only runs whose model can be loaded (for the Draw page and its line-up).
    """
    scored = []
    for run in runs:
        if run.state not in RANKED_STATES or (needs_checkpoint and not run.has_checkpoint):
            continue
        value = score(run)
        if value is not None:
            scored.append(((float(value), run.id), run))  # ids start with the creation time: larger is newer
    return [run for _, run in sorted(scored, key=lambda item: item[0], reverse=True)]


def best_run(
    runs: Iterable[RunInfo], *, score: Score = test_accuracy_score, needs_checkpoint: bool = False
) -> RunInfo | None:
    """The best of `runs` by `score` (ties: the newest), among finished or stopped ones; None if none qualifies.

    `needs_checkpoint` keeps only runs whose model can be loaded (for the Draw page).
    """
    ranked = ranked_runs(runs, score=score, needs_checkpoint=needs_checkpoint)
    return ranked[0] if ranked else None
