"""The Runs page's Manage tab: rename, tag, take its settings to Train, download, use in Draw, delete."""

from __future__ import annotations

import streamlit as st

from pages._common import run_choice
from pages._settings_link import use_these_settings_link
from resnet_mnist import RunStore
from resnet_mnist.runs import RunInfo, RunNotFoundError


def manage_tab(store: RunStore, runs: list[RunInfo], focus: str | None, active_ids: set[str]) -> None:
    run = run_choice("Run to manage", "manage_run", runs, focus)
    if run is None:
        st.info("No runs to manage yet.")
    else:
        with st.form(f"manage_{run.id}"):
            name = st.text_input("Name", value=run.name, max_chars=100)
            tags = st.text_input("Tags (comma-separated)", value=", ".join(run.tags))
            if st.form_submit_button("Save name and tags"):
                store.rename(run.id, name)
                store.set_tags(run.id, tags.split(","))
                st.toast("Saved.")
                st.rerun()
        # One row of buttons as wide as their labels, wrapping on a narrow screen (never cut short).
        left = middle = right = st.container(horizontal=True, vertical_alignment="center", key="manage_actions")
        with middle:
            use_these_settings_link(run.config)
        if run.has_checkpoint:
            left.download_button(
                "Download checkpoint",
                data=run.checkpoint_path.read_bytes,
                file_name=f"resnet-mnist-{run.id}.pt",
                mime="application/octet-stream",
                on_click="ignore",
            )
            if middle.button("Use in Draw", key="use_in_draw"):
                st.session_state["draw_run_id"] = run.id
            if st.session_state.get("draw_run_id") == run.id:
                middle.success("The Draw page uses this run.")
        else:
            left.caption("No checkpoint saved for this run.")
        if run.id in active_ids:
            right.caption("This run is training now; stop it before deleting it.")
        elif right.button("Delete run…", key="delete_run"):
            st.session_state["confirm_delete"] = run.id
        if st.session_state["confirm_delete"] == run.id and run.id not in active_ids:
            _confirm_delete(store, run)


def _confirm_delete(store: RunStore, run: RunInfo) -> None:
    """Ask once more; on yes, delete the run and forget it wherever the session still points at it."""
    st.warning(f"Delete run **{run.label}** (`{run.id}`) and its checkpoint? This cannot be undone.")
    yes, no = st.columns(2)
    if yes.button("Yes, delete it", type="primary", key="confirm_delete_yes"):
        try:
            store.delete(run.id)
        except RunNotFoundError as exc:
            st.error(str(exc))
        else:
            st.session_state["confirm_delete"] = None
            st.session_state["compare_ids"] = [i for i in st.session_state["compare_ids"] if i != run.id]
            if st.session_state.get("draw_run_id") == run.id:
                del st.session_state["draw_run_id"]
            st.toast(f"Deleted {run.label}.")
            st.rerun()
    if no.button("Cancel", key="confirm_delete_no"):
        st.session_state["confirm_delete"] = None
        st.rerun()
