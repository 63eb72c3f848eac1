"""Find a learning rate: the range test (resnet_mnist.core.lr_find) as a background job, drawn live.

Shared by the Train page (its "use it" puts the suggestion into the lr box) and the Sweep tab (its
button puts a log range low..high into the lr axis). The test runs in the server's one LrFindRunner
(pages/_common.py), so the page polls a snapshot and stays live; both places show the last test.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from pages._common import get_lr_finder
from resnet_mnist.core.lr_find import LrFindError, LrFindResult, LrFindSettings
from resnet_mnist.core.settings import rounded as round_setting
from resnet_mnist.jobs.lr_find_runner import LrFindBusyError, LrFindSnapshot
from resnet_mnist.ui.figures import lr_find_figure
from resnet_mnist.ui.plain_text import escape_markdown

IMAGES = 6_000  # the test reads at most steps x batch x repeats of them; the CLI's default too
_HOW = (
    "Trains a fresh copy of the network for a few hundred batches while the learning rate rises from 1e-4 to 10, "
    "three times over different batches, and suggests the lr two thirds along the stretch where the loss falls "
    "(never where it blew up). A few seconds; it uses the cores, so not beside a run or a sweep."
)

Use = Callable[[LrFindResult], None]


def start_button(where: str, settings: LrFindSettings, images: int) -> None:
    """The "Find a learning rate" button; starts a test with `settings` on the first `images` images."""
    finder = get_lr_finder()
    if not st.button(
        "Find a learning rate",
        key=f"{where}_lr_find",
        icon=":material/troubleshoot:",
        disabled=finder.snapshot().busy,
        help=_HOW,
        width="content",
    ):
        return
    try:
        finder.start(settings, images)
    except LrFindBusyError as exc:
        st.warning(escape_markdown(exc), icon=":material/hourglass_top:")
    except LrFindError as exc:
        st.error(f"The range test was not started: {escape_markdown(exc)}", icon=":material/block:")


def result_panel(where: str, use_label: Callable[[LrFindResult], str], use: Use) -> None:
    """The test's live curve, and once done its suggestion with a button that applies it (`use`)."""
    polling = get_lr_finder().snapshot().busy

    @st.fragment(run_every=0.5 if polling else None)
    def live() -> None:
        snap = get_lr_finder().snapshot()
        if polling and not snap.busy:
            st.rerun()  # it just ended: redraw the page once (the use button appears), and stop polling
        if snap.state == "idle":
            return
        _describe(snap)
        st.plotly_chart(_figure(snap), key=f"{where}_lr_find_chart", config={"displaylogo": False})
        result = snap.result
        if result is not None and st.button(
            use_label(result), key=f"{where}_lr_find_use", icon=":material/input:", on_click=use, args=(result,)
        ):
            st.rerun()  # the whole page: the form outside this fragment shows the new value

    live()


def _describe(snap: LrFindSnapshot) -> None:
    s = snap.settings
    assert s is not None
    what = f"momentum {s.momentum:g} · batch {s.batch_size} · seed {s.seed} · {snap.images:,} images"
    if snap.busy:
        st.progress(snap.progress, text=f"Finding a learning rate ({what})…")
    elif snap.state == "failed":
        st.error(f"The range test failed: {escape_markdown(snap.error or 'unknown error')}", icon=":material/error:")
    elif snap.result is None:  # stopped before its first batches
        st.info(f"The range test was stopped: {escape_markdown(snap.error or 'nothing measured')}.")
    elif snap.result is not None:
        r = snap.result
        blew = f"the loss blew up at {r.diverged_at:.3g}" if r.diverged_at is not None else "the loss never blew up"
        stopped = " (stopped early)" if snap.state == "stopped" else ""
        st.success(
            f"Suggested learning rate: **{r.suggested_lr:.3g}** (a good range {r.low:.3g} to {r.high:.3g}; "
            f"{blew}){stopped}. Measured with {what}, {r.steps} batches in {r.seconds:.1f} s.",
            icon=":material/troubleshoot:",
        )


def _figure(snap: LrFindSnapshot):
    """Rebuilt only when the snapshot changed."""
    key = ("lr_find_figure", id(get_lr_finder()), snap.version)
    cached = st.session_state.get("lr_find_figure")
    if cached is not None and cached[0] == key:
        return cached[1]
    r = snap.result
    figure = lr_find_figure(
        snap.ramps,
        mean=(r.lrs, r.losses) if r is not None else None,
        suggested=r.suggested_lr if r is not None else None,
        band=(r.low, r.high) if r is not None else None,
        diverged_at=r.diverged_at if r is not None else None,
    )
    st.session_state["lr_find_figure"] = (key, figure)
    return figure


def rounded(lr: float) -> float:
    """An lr as a person would type it: three significant figures."""
    return round_setting(lr)
