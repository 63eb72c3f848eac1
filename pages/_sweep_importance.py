"""The Sweep tab's "Which setting mattered": each swept setting's importance with its interval, or a plain
"not enough trials" (the computation and its method: resnet_mnist/sweeps/importance.py)."""

from __future__ import annotations

import streamlit as st

from resnet_mnist.runs.store import RunInfo
from resnet_mnist.sweeps.importance import Importance, TrialPoint, importance_of, sweep_trials
from resnet_mnist.ui.figures import importance_figure
from resnet_mnist.ui.plain_text import escape_markdown


@st.cache_data(max_entries=16, show_spinner="Resampling the trials…")
def _importance(trials: tuple[TrialPoint, ...]) -> Importance:
    """Cached by the trials themselves: a sweep that gained a trial is computed again, a rerun is not."""
    return importance_of(trials)


def importance_panel(runs: list[RunInfo], current: str | None) -> None:
    """A pick of the sweeps in the runs folder (the current one first), and which of its settings mattered."""
    sweeps = sorted({r.sweep for r in runs if r.sweep}, reverse=True)
    if not sweeps:
        return
    st.subheader("Which setting mattered")
    index = sweeps.index(current) if current in sweeps else 0
    sweep = st.selectbox("Sweep", sweeps, index=index, key="importance_sweep")
    result = _importance(tuple(sweep_trials(runs, sweep)))
    if result.reason:
        st.info(f"{result.reason[:1].upper() + result.reason[1:]}.", icon=":material/hourglass:")  # our own words
        st.caption(
            f"Trials with a test accuracy: {result.trials}; swept: {escape_markdown(', '.join(result.swept) or '-')}."
        )
        return
    settings = result.settings
    names, values = [s.name for s in settings], [s.value for s in settings]
    lows, highs = [s.low for s in settings], [s.high for s in settings]
    st.plotly_chart(importance_figure(names, values, lows, highs), key="sweep_importance")
    top = settings[0]
    st.markdown(
        f"**{escape_markdown(top.name)}** mattered most: {top.value:.2f} of the total "
        f"(95% interval {top.low:.2f}–{top.high:.2f}), first in {top.first:.0%} of the resampled sweeps; "
        f"{result.trials} trials."
    )
    st.caption(f"Method: {escape_markdown(result.method)}.")
