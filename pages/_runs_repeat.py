"""The Manage tab's "Repeat with 3 seeds": the run's recipe again over three seeds, as one seed group.

The worker trains the seeds one after another as one job (followed on the Train page); the Compare tab
then draws the group as a band and says whether it differs from another run or group beyond seed noise.
"""

from __future__ import annotations

import streamlit as st

from pages._common import get_worker
from resnet_mnist.core.config import ConfigError
from resnet_mnist.jobs.worker import WorkerBusyError
from resnet_mnist.runs.store import RunInfo
from resnet_mnist.ui.plain_text import escape_markdown

REPEATS = 3  # the fewest seeds that give a spread to judge by, at a cost of three runs


def repeat_seeds(run: RunInfo) -> tuple[int, ...]:
    """The run's own seed and the next ones: the same recipe, the seed the only change."""
    return tuple(run.config.seed + i for i in range(REPEATS))


def repeat_button(run: RunInfo, where: st.delta_generator.DeltaGenerator) -> None:
    """A button that starts the group; what happened is said under it (started, or why not)."""
    seeds = repeat_seeds(run)
    clicked = where.button(
        f"Repeat with {REPEATS} seeds",
        key="repeat_seeds",
        help=f"Train this run's settings again with seeds {', '.join(map(str, seeds))}, one after another, as a "
        "seed group: Compare then shows the group's spread and whether a difference is beyond noise.",
    )
    if not clicked:
        return
    try:
        group = get_worker().start_group(run.config, seeds, name=run.name)
    except WorkerBusyError as exc:
        st.warning(escape_markdown(exc), icon=":material/hourglass_top:")
    except ConfigError as exc:
        st.error(f"Not started: {escape_markdown('; '.join(p.message for p in exc.problems))}")
    else:
        st.success(f"Seed group {group} started (seeds {', '.join(map(str, seeds))}); follow it on the Train page.")
        st.page_link("pages/train.py", label="Open Train", icon=":material/model_training:")
