"""Runs: every saved run — compare them, evaluate one on the test set, manage them, queue a sweep."""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from pages._common import get_run_store, get_worker
from resnet_mnist import CheckpointError, ConfigError, DatasetError, RunInfo, TrainConfig, WorkerBusyError
from resnet_mnist.comparison import (
    load_curves,
    run_table_rows,
    table_columns,
    unreadable_rows,
)
from resnet_mnist.config import SETTINGS
from resnet_mnist.data import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE, resolve_data_root
from resnet_mnist.evaluation import digit_images, evaluate_run
from resnet_mnist.figures import confusion_figure, curves_figure, hparams_figure, per_class_figure
from resnet_mnist.runs import RunNotFoundError
from resnet_mnist.sweep import MAX_SWEEP_RUNS, SWEPT_FIELDS, SweepSpec, new_sweep_id, parse_values

st.session_state.setdefault("compare_ids", [])
st.session_state.setdefault("follow_sweep", None)
st.session_state.setdefault("confirm_delete", None)

store = get_run_store()
worker = get_worker()
snapshot = worker.snapshot()
active_run_id = snapshot.run_id if worker.is_alive() else None


def _live_marker() -> tuple:
    snap = worker.snapshot()
    return (worker.is_alive(), snap.run_id, snap.state, len(snap.epochs), len(snap.finished_run_ids))


# What the page was drawn with; the live fragment reruns the page when this changes.
st.session_state["live_marker"] = _live_marker()

st.title("Runs")
st.caption(f"Every run saved in `{store.root}`: compare them, test one, manage them, or queue a sweep.")


@st.fragment(run_every=2.0)
def live_status() -> None:
    """The running job or sweep, and a page refresh whenever a run starts, finishes an epoch or ends."""
    snap = worker.snapshot()
    if snap.busy:
        what = f"Sweep `{snap.sweep}`: job {snap.job_index} of {snap.job_count}" if snap.sweep else "Training"
        epochs = snap.config.epochs if snap.config else 0
        st.info(f"{what} — run `{snap.run_id}`, epoch {snap.epoch} of {epochs}, {snap.state.value}.")
        done = (len(snap.finished_run_ids) + snap.run_progress) / max(snap.job_count, 1)
        st.progress(min(done, 1.0), text=f"{len(snap.finished_run_ids)} of {snap.job_count} runs finished")
    if st.session_state.get("live_marker") != _live_marker():
        st.rerun(scope="app")


live_status()

# -- the runs table ----------------------------------------------------------------------------

entries = store.list_runs()
runs = [e for e in entries if isinstance(e, RunInfo)]
runs_by_id = {r.id: r for r in runs}

follow = st.session_state["follow_sweep"]
if follow:  # a sweep queued from this page fills the comparison as its runs appear
    compare = st.session_state["compare_ids"]
    compare += [r.id for r in reversed(runs) if r.sweep == follow and r.id not in compare]
    if not (worker.is_alive() and snapshot.sweep == follow):
        st.session_state["follow_sweep"] = None

if not runs:
    st.info(
        "No runs yet. Train one on the **Train** page, queue a sweep below, or run "
        "`python -m resnet_mnist train` with the same runs folder."
    )
else:
    ids = [r.id for r in runs]
    remembered = [i for i in st.session_state["compare_ids"] if i in runs_by_id]
    # A new key whenever the list changes, so row positions never point at the wrong run.
    table_key = "runs_table_" + hashlib.sha1(",".join(ids).encode()).hexdigest()[:10]
    table = pd.DataFrame(run_table_rows(runs, active_run_id))
    event = st.dataframe(
        table,
        key=table_key,
        on_select="rerun",
        selection_mode="multi-row",
        selection_default={"selection": {"rows": [ids.index(i) for i in remembered]}},
        hide_index=True,
        column_order=table_columns(),
        column_config={
            "best acc %": st.column_config.NumberColumn(format="%.2f"),
            "final acc %": st.column_config.NumberColumn(format="%.2f"),
            **{
                s.table_column: st.column_config.NumberColumn(format="%g") for s in SETTINGS.values() if s.kind is float
            },
            "duration s": st.column_config.NumberColumn(format="%.0f"),
            "reason": st.column_config.TextColumn(width="medium"),
        },
    )
    st.session_state["compare_ids"] = [ids[row] for row in event.selection.rows if row < len(ids)]
    st.caption("Tick rows to compare them; click a column header to sort.")

broken = unreadable_rows(entries)
if broken:
    st.warning(f"{len(broken)} folder(s) in the runs directory could not be read as runs:")
    st.dataframe(pd.DataFrame(broken), hide_index=True, key="unreadable_table")

selected = [runs_by_id[i] for i in st.session_state["compare_ids"] if i in runs_by_id]
focus_default = selected[0].id if selected else (runs[0].id if runs else None)

compare_tab, evaluate_tab, manage_tab, sweep_tab = st.tabs(
    ["Compare", "Evaluate", "Manage", "Sweep"], key="runs_tab", on_change="rerun"
)

# -- compare -----------------------------------------------------------------------------------

with compare_tab:
    if compare_tab.open:
        if not selected:
            st.info("Select runs in the table above to overlay their curves.")
        else:
            curves = load_curves(store, selected)
            st.plotly_chart(curves_figure(curves, "test_accuracy"), key="chart_accuracy")
            st.plotly_chart(curves_figure(curves, "test_loss"), key="chart_test_loss")
            smoothing = st.slider(
                "Training-loss smoothing", 0.0, 0.99, 0.6, 0.01, key="smoothing", help="EMA weight, as TensorBoard"
            )
            st.plotly_chart(curves_figure(curves, "train_loss", smoothing=smoothing), key="chart_train_loss")
        if runs:
            st.subheader(f"Hyperparameters vs final accuracy ({len(runs)} runs)")
            kind = st.radio(
                "View", ["parallel", "scatter"], horizontal=True, key="hparams_kind", label_visibility="collapsed"
            )
            x_field = "lr"
            if kind == "scatter":
                x_field = st.selectbox("x axis", SWEPT_FIELDS, key="hparams_x")
            st.plotly_chart(hparams_figure(runs, kind=kind, x_field=x_field), key="chart_hparams")

# -- evaluate ----------------------------------------------------------------------------------


def _run_choice(label: str, key: str, candidates: list[RunInfo]) -> RunInfo | None:
    if not candidates:
        return None
    options = [r.id for r in candidates]
    index = options.index(focus_default) if focus_default in options else 0
    names = {r.id: f"{r.label} — {r.state.value}" + (f" ({r.id})" if r.name else "") for r in candidates}
    chosen = st.selectbox(label, options, index=index, key=key, format_func=names.get)
    return runs_by_id.get(chosen)


with evaluate_tab:
    if evaluate_tab.open:
        run = _run_choice("Run to evaluate", "eval_run", [r for r in runs if r.has_checkpoint])
        if run is None:
            st.info("No run with a checkpoint yet: train one first.")
        else:
            limit_options = {f"all {MNIST_TEST_SIZE:,} test images": None}
            if run.config.test_limit:
                limit_options[f"the run's own {run.config.test_limit:,} test images"] = run.config.test_limit
            scope = st.radio("Evaluate on", list(limit_options), horizontal=True, key="eval_scope")
            try:
                with st.spinner("Testing the checkpoint on the test set…"):
                    evaluation = evaluate_run(run, data_root=resolve_data_root(), test_limit=limit_options[scope])
            except (CheckpointError, DatasetError) as exc:
                st.error(f"Could not evaluate this run: {exc}")
            else:
                a, b, c = st.columns(3)
                a.metric("Test accuracy", f"{evaluation.accuracy:.2%}")
                b.metric("Mistakes", f"{len(evaluation.misclassified):,} of {evaluation.total:,}")
                c.metric("Test loss", f"{evaluation.loss:.4f}")
                st.caption(
                    f"Checkpoint from epoch {evaluation.checkpoint_epoch}; "
                    + ("read from the run's cached evaluation." if evaluation.from_cache else "evaluated just now.")
                )
                normalised = st.toggle("Row-normalised", key="confusion_normalised")
                left, right = st.columns([3, 2])
                left.plotly_chart(confusion_figure(evaluation, normalised=normalised), key="chart_confusion")
                right.plotly_chart(per_class_figure(evaluation), key="chart_per_class")
                st.subheader("Misclassified test digits, most confident mistakes first")
                if not evaluation.misclassified:
                    st.success("No mistakes on these test images.")
                else:
                    most = min(200, len(evaluation.misclassified))
                    count = st.slider("How many", 1, most, min(32, most), key="gallery_count") if most > 1 else 1
                    shown = evaluation.misclassified[:count]
                    images = digit_images([m.index for m in shown], data_root=resolve_data_root(), scale=3)
                    captions = [f"{m.true} → {m.predicted} ({m.confidence:.1%})" for m in shown]
                    st.image(list(images), caption=captions, width=84)
                    st.caption("Caption: true digit → predicted digit (the model's confidence in its prediction).")

# -- manage ------------------------------------------------------------------------------------

with manage_tab:
    if manage_tab.open:
        run = _run_choice("Run to manage", "manage_run", runs)
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
            left, middle, right = st.columns(3)
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
            if run.id == active_run_id:
                right.caption("This run is training now; stop it before deleting it.")
            elif right.button("Delete run…", key="delete_run"):
                st.session_state["confirm_delete"] = run.id
            if st.session_state["confirm_delete"] == run.id and run.id != active_run_id:
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

# -- sweep -------------------------------------------------------------------------------------


def _values(label: str, default: str, kind: type, key: str) -> tuple:
    text = st.text_input(label, default, key=key, help="several values separated by commas")
    try:
        return parse_values(text, kind)
    except ValueError as exc:
        st.error(f"{label}: {exc}")
        return ()


with sweep_tab:
    if sweep_tab.open:
        st.write("Queue several runs on the worker; they train one after another and fill the comparison.")
        values = {}
        for column, name in zip(st.columns(len(SWEPT_FIELDS)), SWEPT_FIELDS, strict=True):
            setting = SETTINGS[name]
            with column:
                start = ", ".join(f"{v:g}" for v in setting.sweep_values)
                values[name] = _values(setting.label, start, setting.kind, f"sweep_{name}")
        c1, c2, c3, c4 = st.columns(4)
        train_limit = c1.number_input(
            f"Training images (0 = all {MNIST_TRAIN_SIZE:,})",
            0,
            MNIST_TRAIN_SIZE,
            5_000,
            1_000,
            key="sweep_train_limit",
        )
        test_limit = c2.number_input(
            f"Test images (0 = all {MNIST_TEST_SIZE:,})", 0, MNIST_TEST_SIZE, 0, 1_000, key="sweep_test_limit"
        )
        mode = c3.radio("Mode", ["grid", "random"], horizontal=True, key="sweep_mode")
        n = c4.number_input("Random runs", 1, MAX_SWEEP_RUNS, 4, key="sweep_n", disabled=mode == "grid")
        name = st.text_input("Sweep name", "sweep", key="sweep_name")
        spec = SweepSpec(
            base=TrainConfig(train_limit=int(train_limit) or None, test_limit=int(test_limit) or None),
            values=values,
            mode=mode,
            n=int(n),
        )
        problems = spec.problems()
        for problem in problems:
            st.error(problem)
        st.metric("Runs to queue", spec.size)
        busy = worker.is_alive()
        if busy:
            st.info("A job is running; a sweep can be queued once it has ended (or been stopped).")
        if st.button(
            f"Queue {spec.size} runs", type="primary", disabled=bool(problems) or spec.size == 0, key="queue_sweep"
        ):
            sweep_id = new_sweep_id()
            try:
                worker.start(spec.configs(), name=name.strip() or "sweep", sweep=sweep_id)
            except WorkerBusyError as exc:
                st.error(str(exc))
            except (ConfigError, ValueError) as exc:
                st.error(f"The sweep was not queued: {exc}")
            else:
                st.session_state["follow_sweep"] = sweep_id
                st.toast(f"Queued {spec.size} runs.")
                st.rerun()
        if busy and st.button("Stop the running job and the rest of its queue", key="stop_sweep"):
            worker.stop()
            st.rerun()
