"""Is the difference between two recipes real, or seed noise? A verdict from each side's final accuracies.

Method: Welch's t-test over seeds (scipy.stats.ttest_ind with equal_var=False) and its 95% confidence
interval for the difference of the means, mean(B) - mean(A). The difference is *beyond noise* when that
interval leaves out 0 (the same as p < 0.05, two-sided), else *within noise*. Welch's form, because two
recipes need not vary as much over seeds (a large lr scatters more); scipy computes it and its
interval, so we do not.

A side with fewer than 2 seeds gets *too few seeds*: its spread over seeds is then unknown, and
borrowing the other side's would assume what the test is meant to check. The difference is still given,
without an interval. Sides whose seeds all gave exactly the same accuracy (a deterministic recipe) have
no noise: any difference is then beyond it, with the interval the difference itself.

With 3 seeds a side the test has 2-4 degrees of freedom, so only differences several times the seeds'
spread come out beyond noise: a careful verdict, never an eager one.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["BEYOND_NOISE", "CONFIDENCE", "METHOD", "MIN_SEEDS", "TOO_FEW_SEEDS", "WITHIN_NOISE", "Verdict", "judge"]

BEYOND_NOISE, WITHIN_NOISE, TOO_FEW_SEEDS = "beyond noise", "within noise", "too few seeds"
MIN_SEEDS = 2  # a variance needs two values
CONFIDENCE = 0.95
METHOD = "Welch's t-test over seeds, 95% confidence interval of mean(B) - mean(A)"


@dataclass(frozen=True)
class Verdict:
    """The verdict on B against A: fractions of 1 (0.012 is 1.2 points of accuracy)."""

    verdict: str  # BEYOND_NOISE, WITHIN_NOISE or TOO_FEW_SEEDS
    difference: float | None  # mean(B) - mean(A); None when a side has no accuracy at all
    interval: tuple[float, float] | None  # CONFIDENCE interval of the difference; None with too few seeds
    n_a: int
    n_b: int
    mean_a: float | None
    mean_b: float | None
    p_value: float | None = None
    method: str = METHOD

    def sentence(self) -> str:
        """The verdict in one plain line, in points of accuracy."""
        if self.difference is None:
            return f"{TOO_FEW_SEEDS}: a side has no finished epoch to compare"
        change = f"B − A = {100 * self.difference:+.2f} points"
        if self.interval is None:
            return f"{self.verdict}: {change} (seeds: A {self.n_a}, B {self.n_b}; at least {MIN_SEEDS} a side)"
        low, high = (100 * v for v in self.interval)
        return f"{self.verdict}: {change}, {CONFIDENCE:.0%} interval [{low:+.2f}, {high:+.2f}]"

    def as_dict(self) -> dict[str, object]:
        """The CLI's JSON object."""
        return {
            "verdict": self.verdict,
            "difference": self.difference,
            "interval": list(self.interval) if self.interval else None,
            "method": self.method,
            "n_a": self.n_a,
            "n_b": self.n_b,
            "mean_a": self.mean_a,
            "mean_b": self.mean_b,
            "p_value": self.p_value,
        }


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def judge(a: Sequence[float], b: Sequence[float]) -> Verdict:
    """B against A, each a side's final accuracies over its seeds (one value per run)."""
    mean_a, mean_b = _mean(a), _mean(b)
    base = {"n_a": len(a), "n_b": len(b), "mean_a": mean_a, "mean_b": mean_b}
    if mean_a is None or mean_b is None:
        return Verdict(TOO_FEW_SEEDS, None, None, **base)
    difference = mean_b - mean_a
    if len(a) < MIN_SEEDS or len(b) < MIN_SEEDS:
        return Verdict(TOO_FEW_SEEDS, difference, None, **base)
    if len(set(a)) == 1 and len(set(b)) == 1:  # no spread at all: the t statistic is undefined
        verdict = WITHIN_NOISE if difference == 0 else BEYOND_NOISE
        return Verdict(verdict, difference, (difference, difference), **base)
    from scipy import stats  # here, not at the top: importing it costs every CLI command 0.6 s

    with warnings.catch_warnings():  # nearly equal values warn of precision loss; the interval is still right
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(b, a, equal_var=False)
        low, high = result.confidence_interval(CONFIDENCE)
    beyond = low > 0 or high < 0
    return Verdict(
        BEYOND_NOISE if beyond else WITHIN_NOISE,
        difference,
        (float(low), float(high)),
        p_value=float(result.pvalue),
        **base,
    )
