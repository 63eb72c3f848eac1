"""The Runs page's Manage tab: rename, tag, take its settings to Train, repeat over seeds, download, export,
use in Draw, delete."""

from __future__ import annotations

import streamlit as st

from pages._common import run_choice
from pages._runs_export import onnx_export_control
from pages._runs_repeat import repeat_button
from pages._settings_link import use_these_settings_link
from resnet_mnist import RunStore
from resnet_mnist.runs.store import RunBusyError, RunInfo, RunNotFoundError
from resnet_mnist.ui.plain_text import escape_markdown


def manage_tab(store: RunStore, runs: list[RunInfo], focus: str | None, active_ids: set[str]) -> None:
    run = run_choice("Run to manage", "manage_run", runs, focus)
    if run is None:
        st.info("No runs to manage yet.")
    else:
        with st.form(f"manage_{run.id}"):
            name = st.text_input("Name", value=run.name, max_chars=100)
            tags = st.text_input("Tags (comma-separated)", value=", ".join(run.tags), max_chars=1000)
            if st.form_submit_button("Save name and tags"):
                try:  # a run this server records takes the edit through its recorder; another process's is refused
                    store.update(run.id, name=name, tags=tags.split(","))
                except (RunBusyError, RunNotFoundError, ValueError, OSError) as exc:
                    st.error(f"Not saved: {escape_markdown(exc)}")
                else:
                    st.toast("Saved.")
                    st.rerun()
        # One row of buttons as wide as their labels, wrapping on a narrow screen (never cut short).
        left = middle = right = st.container(horizontal=True, vertical_alignment="center", key="manage_actions")
        with middle:
            use_these_settings_link(run.config)
        repeat_button(run, middle)
        if run.has_checkpoint:
            left.download_button(
                "Download checkpoint",
                data=lambda: store.checkpoint_bytes(run.id),  # never through a link, never over the size limit
                file_name=f"resnet-mnist-{run.id}.pt",
                mime="application/octet-stream",
                on_click="ignore",
            )
            if middle.button("Use in Draw", key="use_in_draw"):
                st.session_state["draw_run_id"] = run.id
            if st.session_state.get("draw_run_id") == run.id:
                middle.success("The Draw page uses this run.")
            onnx_export_control(run)  # its own row: Export as ONNX, then the checked file's download
        else:
            left.caption("No checkpoint saved for this run.")
        recording = run.live or run.id in active_ids  # live: some process holds the run's writer lock
        if recording:
            right.caption("This run is being recorded now; stop it before deleting it.")
        elif right.button("Delete run…", key="delete_run"):
            st.session_state["confirm_delete"] = run.id
        if st.session_state["confirm_delete"] == run.id and not recording:
            _confirm_delete(store, run)


def _confirm_delete(store: RunStore, run: RunInfo) -> None:
    """Ask once more; on yes, delete the run and forget it wherever the session still points at it."""
    st.warning(
        f"Delete run **{escape_markdown(run.label)}** ({escape_markdown(run.id)}) and its checkpoint? "
        "This cannot be undone."
    )
    yes, no = st.columns(2)
    if yes.button("Yes, delete it", type="primary", key="confirm_delete_yes"):
        try:
            store.delete(run.id)
        except (RunNotFoundError, RunBusyError, OSError) as exc:
            st.error(escape_markdown(exc))
        else:
            st.session_state["confirm_delete"] = None
            st.session_state["compare_ids"] = [i for i in st.session_state["compare_ids"] if i != run.id]
            if st.session_state.get("draw_run_id") == run.id:
                del st.session_state["draw_run_id"]
            st.toast(f"Deleted {escape_markdown(run.label)}.")
            st.rerun()
    if no.button("Cancel", key="confirm_delete_no"):
        st.session_state["confirm_delete"] = None
        st.rerun()
