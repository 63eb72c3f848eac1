"""The Compare tab's verdict: is B different from A beyond seed noise? (runs/significance.py decides.)"""

from __future__ import annotations

import streamlit as st

from resnet_mnist.runs.groups import Side
from resnet_mnist.runs.significance import BEYOND_NOISE, MIN_SEEDS, WITHIN_NOISE, judge
from resnet_mnist.ui.plain_text import escape_markdown


def verdict_panel(sides: list[Side]) -> None:
    """Pick A and B among `sides` (the ticked runs' groups and runs, or every one); the verdict, its
    difference and interval."""
    st.subheader("Is the difference real?")
    if len(sides) < 2:
        st.caption("Train a second run or seed group to compare it with this one.")
        return
    by_key = {s.key: s for s in sides}
    keys = list(by_key)
    left, right = st.columns(2)
    a_key = left.selectbox("A", keys, index=0, key="verdict_a", format_func=lambda k: by_key[k].label)
    b_key = right.selectbox("B", keys, index=1, key="verdict_b", format_func=lambda k: by_key[k].label)
    if a_key == b_key:
        st.caption("Choose two different runs or groups.")
        return
    a, b = by_key[a_key], by_key[b_key]
    verdict = judge(a.final_accuracies, b.final_accuracies)
    sentence = verdict.sentence()
    text = f"**{sentence[:1].upper() + sentence[1:]}**"  # our own words and numbers: nothing a person typed
    if verdict.verdict == BEYOND_NOISE:
        st.success(text, icon=":material/check_circle:")
    elif verdict.verdict == WITHIN_NOISE:
        st.info(text, icon=":material/drag_handle:")
    else:
        st.info(
            f"{text}  \nA side needs at least {MIN_SEEDS} seeds to tell its spread: repeat a run over seeds "
            "(Manage → Repeat with 3 seeds, or `train --seeds 1,2,3`).",
            icon=":material/casino:",
        )
    means = ", ".join(
        f"{name} {100 * mean:.2f}% over {n} seed{'s' if n != 1 else ''}"
        for name, mean, n in (("A", verdict.mean_a, verdict.n_a), ("B", verdict.mean_b, verdict.n_b))
        if mean is not None
    )
    st.caption(f"Final test accuracy: {means}. Method: {escape_markdown(verdict.method)}.")
