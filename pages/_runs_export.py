"""The Runs page's export control: Export as ONNX (exported and checked on MNIST's test set), then download."""

from __future__ import annotations

import streamlit as st

from resnet_mnist.core.data import DatasetError, resolve_data_root
from resnet_mnist.export import CheckedExport, ExportCheckFailed, ExportError, ExportProgress, export_checked
from resnet_mnist.runs.checkpoint import CheckpointError, load_checkpoint
from resnet_mnist.runs.store import RunInfo
from resnet_mnist.runs.verdict_cache import checkpoint_stamp
from resnet_mnist.ui.plain_text import escape_markdown

_DONE = "onnx_export"  # session state: {"key": (run id, checkpoint size, mtime), "export": CheckedExport}


def onnx_export_control(run: RunInfo) -> None:
    """A button that exports and checks the run's checkpoint, then the checked file to download.

    The file is kept for this session while the checkpoint stays the same; one that failed its check is
    never offered: the page says why in one line.
    """
    try:
        key = (run.id, *checkpoint_stamp(run.checkpoint_path))
    except OSError:
        return  # the checkpoint went away since the page listed it; the next rerun says so
    row = st.container(horizontal=True, vertical_alignment="center", key="export_actions")
    if row.button(
        "Export as ONNX",
        key="export_onnx",
        help="Exports the model for onnxruntime, Netron and other runtimes, then checks that onnxruntime "
        "gives the checkpoint's answers on MNIST's 10,000 test digits before the file is offered.",
    ):
        st.session_state.pop(_DONE, None)
        exported = _export(run)
        if exported is not None:
            st.session_state[_DONE] = {"key": key, "export": exported}
    done = st.session_state.get(_DONE)
    if done is None or done["key"] != key:
        return
    exported: CheckedExport = done["export"]
    row.download_button(
        f"Download ONNX ({len(exported.data) / 1024:,.0f} KB)",
        data=exported.data,
        file_name=f"resnet-mnist-{run.id}.onnx",
        mime="application/octet-stream",
        on_click="ignore",
        key="download_onnx",
        type="primary",
    )
    st.caption(
        f"Checked: {escape_markdown(exported.check.summary())}. Input `{exported.input_name}`: (batch, 1, 28, 28) "
        f"pixels 0..1, white on black; output `{exported.output_name}`: (batch, 10) log-probabilities "
        "(see the README's Export section)."
    )


def _export(run: RunInfo) -> CheckedExport | None:
    """Export and check with a progress bar; None, after one error line, when it cannot be offered."""
    bar = st.progress(0.0, text="Reading the checkpoint and MNIST's test digits…")

    def show(progress: ExportProgress) -> None:
        bar.progress(progress.fraction, text=progress.text)

    try:
        checkpoint = load_checkpoint(run.checkpoint_path)
        return export_checked(checkpoint, source=run.id, data_root=resolve_data_root(), on_progress=show)
    except (CheckpointError, DatasetError, ExportError, ExportCheckFailed, OSError) as exc:
        st.error(f"Not exported: {escape_markdown(' '.join(str(exc).split()))}")
        return None
    finally:
        bar.empty()
