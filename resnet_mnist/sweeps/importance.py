"""Which swept setting mattered: each setting's importance over a sweep's trials, with an interval.

Method: Optuna's PED-ANOVA (optuna.importance.PedAnovaImportanceEvaluator, Watanabe et al., IJCAI 2023)
on an in-memory study built from the finished trials (optuna.trial.create_trial: each trial's swept
settings and its best test accuracy, maximised). PED-ANOVA asks how differently each setting is
spread among the best trials (here the top 40%) than among all of them; the importances are normalised
to add up to 1. Optuna's fANOVA would need scikit-learn, which this app does not ship; PED-ANOVA needs
only numpy and is fast enough to repeat. The interval: the same computation on 300 bootstrap resamples of
the trials (drawn with replacement, a fixed seed so a sweep always shows the same numbers), its 2.5th
and 97.5th percentiles; `first` is the share of resamples in which the setting ranks first.

"Not enough trials" below MIN_TRIALS: Optuna's documentation asks for at least 5 trials above the target
quantile, and the top 40% holds 5 trials from 11 on (so a dozen-trial sweep can be read; bench/importance_trials.py
measured lr ranked first in 96% of 11-trial subsets of a real sweep, 72% of 5-trial ones). Only settings
that took more than one value count as swept; a sweep needs two of them to rank anything.

Pure: plain trial data in, plain numbers out; no Ray, and the runs folder is read by the caller.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from resnet_mnist.core.config import SETTINGS
from resnet_mnist.runs.store import RunInfo
from resnet_mnist.sweeps.spec import SWEPT_FIELDS

__all__ = [
    "METHOD",
    "MIN_TRIALS",
    "TARGET_QUANTILE",
    "Importance",
    "SettingImportance",
    "TrialPoint",
    "importance_of",
    "point_importance",
    "sweep_trials",
]

TARGET_QUANTILE = 0.4  # the "good" trials PED-ANOVA contrasts with all: the top 40%
MIN_TRIALS = next(n for n in range(1, 1000) if math.ceil(TARGET_QUANTILE * n) >= 5)  # 11: its top 40% holds 5
RESAMPLES = 300
METHOD = (
    f"Optuna PED-ANOVA (top {TARGET_QUANTILE:.0%} of trials by best test accuracy), normalised to sum 1; "
    f"95% interval from {RESAMPLES} bootstrap resamples of the trials"
)


@dataclass(frozen=True)
class TrialPoint:
    """One finished trial: the settings it was given and the best test accuracy it reached (0..1)."""

    run_id: str
    params: dict[str, Any]
    accuracy: float


@dataclass(frozen=True)
class SettingImportance:
    name: str
    value: float  # on all the trials
    low: float  # 2.5th percentile over the resamples
    high: float  # 97.5th
    first: float  # share of resamples in which it ranks first


@dataclass(frozen=True)
class Importance:
    """The settings from most to least important, or none when there are too few trials to tell."""

    trials: int
    swept: tuple[str, ...]
    enough: bool
    settings: tuple[SettingImportance, ...] = field(default=())
    method: str = METHOD

    @property
    def reason(self) -> str:
        """Why there is no ranking ('' when there is one)."""
        if self.trials < MIN_TRIALS:  # first: with few trials even a swept setting may show one value
            return f"not enough trials: {self.trials} scored, {MIN_TRIALS} needed to tell"  # ASHA's stopped ones count
        if len(self.swept) < 2:
            return "only one setting was swept: nothing to rank it against" if self.swept else "no setting varied"
        return ""

    def as_dict(self) -> dict[str, Any]:
        """The CLI's JSON object (`importance`: each setting's value, low, high)."""
        return {
            "trials": self.trials,
            "swept": list(self.swept),
            "enough": self.enough,
            "reason": self.reason or None,
            "method": self.method,
            "importance": {
                s.name: {"value": s.value, "low": s.low, "high": s.high, "first": s.first} for s in self.settings
            },
        }


def sweep_trials(runs: Iterable[RunInfo], sweep_id: str) -> list[TrialPoint]:
    """The sweep's trials that reached a test accuracy (one that diverged before its first test has none), with
    their swept settings, in a fixed order.

    Ordered by their settings and accuracy, not by run id (ids made in the same second order at random), so
    the same trials always give the same resamples.
    """
    points = []
    for run in runs:
        if run.sweep == sweep_id and run.best_accuracy is not None:
            params = {name: getattr(run.config, name) for name in SWEPT_FIELDS}
            points.append(TrialPoint(run.id, params, float(run.best_accuracy)))
    return sorted(points, key=lambda t: (repr(sorted(t.params.items())), t.accuracy, t.run_id))


def _distributions(trials: Sequence[TrialPoint]) -> dict[str, Any]:
    """An Optuna distribution for each setting that took more than one value, over the values it took."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    found: dict[str, Any] = {}
    for name in SWEPT_FIELDS:
        values = [t.params[name] for t in trials if t.params.get(name) is not None]
        if len(values) != len(trials) or len(set(values)) < 2:
            continue  # not swept (one value), or unset for some trials (all images): not comparable
        if SETTINGS[name].choices or isinstance(values[0], str):
            found[name] = CategoricalDistribution(sorted(set(values)))
        else:
            log = SETTINGS[name].widget == "log_slider" and min(values) > 0
            found[name] = FloatDistribution(float(min(values)), float(max(values)), log=log)
    return found


def _importances(trials: Sequence[TrialPoint], distributions: dict[str, Any]) -> dict[str, float]:
    """PED-ANOVA's normalised importances on an in-memory study of `trials`."""
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    def params(trial: TrialPoint) -> dict[str, Any]:
        return {
            n: float(trial.params[n]) if isinstance(d, FloatDistribution) else trial.params[n]
            for n, d in distributions.items()
        }

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created" line per resample
    study = optuna.create_study(direction="maximize")
    study.add_trials(
        [optuna.trial.create_trial(params=params(t), distributions=distributions, value=t.accuracy) for t in trials]
    )
    evaluator = PedAnovaImportanceEvaluator(target_quantile=TARGET_QUANTILE)
    return get_param_importances(study, evaluator=evaluator, normalize=True)


def point_importance(trials: Sequence[TrialPoint]) -> dict[str, float]:
    """Each swept setting's importance on these trials alone (no interval, no threshold); {} with fewer than
    two swept settings. For measuring how the ranking behaves with the number of trials (bench/)."""
    distributions = _distributions(trials)
    if len(distributions) < 2:
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _importances(trials, distributions)


def importance_of(trials: Sequence[TrialPoint], *, resamples: int = RESAMPLES, seed: int = 0) -> Importance:
    """Each swept setting's importance with its bootstrap interval, or `enough=False` below MIN_TRIALS."""
    distributions = _distributions(trials)
    swept = tuple(distributions)
    enough = len(trials) >= MIN_TRIALS and len(swept) >= 2
    if not enough:
        return Importance(trials=len(trials), swept=swept, enough=False)
    with warnings.catch_warnings():  # PED-ANOVA warns on small regimes; the interval says how sure it is
        warnings.simplefilter("ignore")
        whole = _importances(trials, distributions)
        rng = np.random.default_rng(seed)
        draws: list[dict[str, float]] = []
        for _ in range(resamples):
            sample = [trials[i] for i in rng.integers(0, len(trials), len(trials))]
            try:
                draws.append(_importances(sample, distributions))
            except (ValueError, ZeroDivisionError, FloatingPointError):
                continue  # a resample too degenerate to estimate (every draw the same trial): skip it
    settings = []
    for name in swept:
        values = np.array([d.get(name, 0.0) for d in draws]) if draws else np.array([whole[name]])
        firsts = sum(max(d, key=d.get) == name for d in draws) / len(draws) if draws else 0.0
        low, high = np.percentile(values, [2.5, 97.5])
        settings.append(SettingImportance(name, float(whole[name]), float(low), float(high), float(firsts)))
    settings.sort(key=lambda s: s.value, reverse=True)
    return Importance(trials=len(trials), swept=swept, enough=True, settings=tuple(settings))
