"""Branching from the pages: the "Branch from epoch N" link (Runs page, the doctor's remedy, the Train page's
finished banner), the Train page's banner saying the form starts a branch, and Start's branch job.

The link is a "Use these settings" link (the run's settings, changed as the remedy says) with two more
query keys, the parent run and the epoch: the form fills as usual and the page knows it starts a branch.
They stay in the address until the branch starts or is cancelled, so a reload keeps the branch.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from pages._settings_link import settings_link_query
from resnet_mnist import ConfigError, RunStore, TrainConfig, TrainingWorker
from resnet_mnist.core.devices import default_device
from resnet_mnist.jobs.job import branch_job
from resnet_mnist.jobs.worker import WorkerBusyError
from resnet_mnist.runs.branch import BranchError, BranchPlan, plan_branch
from resnet_mnist.runs.store import RunInfo
from resnet_mnist.ui.plain_text import escape_markdown

BRANCH_KEY, EPOCH_KEY = "branch", "from_epoch"


def branch_config(run: RunInfo, epoch: int, changes: dict[str, Any] | None = None) -> TrainConfig:
    """The run's settings with `changes`, training past `epoch` (as many epochs again when they would not)."""
    config = run.config.with_changes(**(changes or {}))
    return config if config.epochs > epoch else config.with_changes(epochs=epoch + run.config.epochs)


def branch_link(run: RunInfo, epoch: int, *, label: str = "", changes: dict[str, Any] | None = None) -> None:
    """A link to the Train page, its form filled for a branch of `run` from `epoch` (with `changes`)."""
    query = settings_link_query(branch_config(run, epoch, changes), default_device())
    st.page_link(
        "pages/train.py",
        label=label or f"Branch from epoch {epoch}",
        icon=":material/fork_right:",
        query_params={**query, BRANCH_KEY: run.id, EPOCH_KEY: str(epoch)},
        help="Open the Train page with this run's settings; the new run continues from this epoch's weights and "
        "momentum. Change what you like, then Start.",
    )


def wanted_branch() -> tuple[str, int] | None:
    """The (run id, epoch) the address asks the Train page to branch from, or None."""
    run_id, epoch = st.query_params.get(BRANCH_KEY), st.query_params.get(EPOCH_KEY)
    if not run_id or epoch is None or not epoch.isdigit() or len(epoch) > 6:
        return None
    return run_id, int(epoch)


def cancel_branch() -> None:
    for name in (BRANCH_KEY, EPOCH_KEY):
        if name in st.query_params:
            del st.query_params[name]


def branch_banner(store: RunStore, config: TrainConfig) -> BranchPlan | None:
    """Above Start: what the branch asked for will do, or why it cannot be made; the plan when it can."""
    wanted = wanted_branch()
    if wanted is None:
        return None
    run_id, epoch = wanted
    row = st.container(horizontal=True, vertical_alignment="center", key="train_branch_banner")
    try:
        plan = plan_branch(store, run_id, epoch, config.to_dict())
    except BranchError as exc:
        row.error(f"Cannot branch: {escape_markdown(exc)}.", icon=":material/error:")
        plan = None
    else:
        start = f"epoch {epoch}'s weights and momentum" if epoch else "the seed's fresh weights (epoch 0)"
        row.info(
            f"**Branch** of run {escape_markdown(plan.parent.label)}: Start trains epochs {epoch + 1} to "
            f"{config.epochs} from {start}, with the settings in the sidebar.",
            icon=":material/fork_right:",
        )
    row.button("Cancel branch", key="train_branch_cancel", on_click=cancel_branch, width="content")
    return plan


def start_branch(worker: TrainingWorker, plan: BranchPlan) -> bool:
    """Start the branch's job; True when it started (the address then forgets the branch)."""
    try:
        worker.start(branch_job(plan, data_root=worker.data_root))
    except WorkerBusyError as exc:
        st.warning(escape_markdown(exc), icon=":material/hourglass_top:")
        return False
    except ConfigError as exc:
        st.error(f"Not started: {escape_markdown(exc)}", icon=":material/block:")
        return False
    cancel_branch()
    return True
