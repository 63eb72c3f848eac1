"""The Runs page's Sweep tab: a Ray Tune sweep's space, search, scheduler and resources, then its live trials.

Kept in its own file so that pages/runs.py stays a short script; everything it computes comes
from resnet_mnist (sweeps/: spec, outcome, estimate; jobs/sweep_runner.py).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from pages import _lr_find as lr_find
from pages._common import get_run_store, get_sweep_runner
from pages._settings_link import use_these_settings_link
from pages._sweep_importance import importance_panel
from resnet_mnist.core.config import SETTINGS
from resnet_mnist.core.data import resolve_data_root
from resnet_mnist.core.lr_find import LrFindResult, LrFindSettings
from resnet_mnist.core.settings import Setting
from resnet_mnist.jobs.sweep_runner import SweepBusyError, SweepSnapshot
from resnet_mnist.runs.comparison import load_curves
from resnet_mnist.runs.store import RunInfo
from resnet_mnist.sweeps.estimate import MachineSpeed, SweepEstimate, estimate_sweep, machine_speed
from resnet_mnist.sweeps.outcome import SweepState
from resnet_mnist.sweeps.ray_runtime import RayUnavailableError, resolve_ray_address
from resnet_mnist.sweeps.spec import (
    SCHEDULERS,
    SEARCHES,
    SWEEP_DEFAULTS,
    SWEPT_FIELDS,
    Axis,
    SweepError,
    SweepSpec,
    parse_axis,
)
from resnet_mnist.sweeps.status import last_request
from resnet_mnist.ui.figures import curves_figure
from resnet_mnist.ui.formatting import MISSING, NUMBER_FORMAT, format_duration
from resnet_mnist.ui.plain_text import escape_markdown
from resnet_mnist.ui.sweep_form import (
    NUMBER_BOUNDS,
    axis_key,
    form_from_query,
    form_query,
    form_values,
    initial_form_values,
)
from resnet_mnist.ui.sweep_table import NODE_HELP, trial_rows

# The swept settings, their labels and starting values come from the settings' descriptions (config.py).
_AXES = tuple(SETTINGS[name] for name in SWEPT_FIELDS)
_AXIS_HELP = "values (0.01, 0.05) or a range: low:high, or low:high:log for a log scale (random and Optuna only)"
_CHOICE_HELP = "the choices each trial may take; none keeps the base setting"
_SCHEDULER_HELP = (
    "none: every trial trains all its epochs. asha (Asynchronous Successive Halving): at a few epochs "
    "(its rungs) each trial's test accuracy is compared with what the trials before it reached at the same "
    "epoch, and one outside the best 1/reduction factor is stopped there (saved as stopped early, with that "
    "epoch's weights), so its cores go to the next trial. Asynchronous: it judges each trial as it arrives, "
    "never waiting for the others."
)
_GRACE_HELP = (
    "ASHA's first rung, in epochs: no trial is stopped before it. The shorter, the more time ASHA saves, "
    "but the noisier the first judgement; on this network one epoch already ranks learning rates well."
)
_FACTOR_HELP = (
    "ASHA's rungs are at grace period × factor^k epochs (1, 4, 16, … with 1 and 4), and at each only the best "
    "1/factor of the trials seen there go on. Higher stops more, sooner: faster sweeps, more risk of stopping a "
    "late bloomer. 4 trained the fewest epochs for the same best trial in this network's measured sweeps."
)


_NOT_YET = f"{MISSING}: the trial has not started, or no epoch of it has ended yet."
_TRIAL_COLUMNS = {
    **{name: st.column_config.NumberColumn(format=NUMBER_FORMAT) for name in ("lr", "momentum")},
    "epoch": st.column_config.NumberColumn(help=f"Epochs it trained. {_NOT_YET}"),
    "test acc %": st.column_config.NumberColumn(format="%.2f", help=f"Accuracy after its latest epoch. {_NOT_YET}"),
    "best acc %": st.column_config.NumberColumn(format="%.2f", help=f"Its best epoch's test accuracy. {_NOT_YET}"),
    "stopped early": st.column_config.CheckboxColumn(),
    "reason": st.column_config.TextColumn(help=f"Why it stopped or failed. {MISSING}: it did not."),
    "run": st.column_config.TextColumn(help=f"Its run in the Runs table. {MISSING}: not started, so no run."),
    "node": st.column_config.TextColumn(width="small", help=f"{NODE_HELP} {MISSING}: it has not started."),
}


@st.cache_resource(ttl=600)
def _speed(runs_root: str) -> MachineSpeed:
    """This machine's training speed, from its recent runs (or measured once); refreshed every 10 minutes."""
    return machine_speed(get_run_store(), data_root=str(resolve_data_root()))


def _form_start() -> dict[str, Any]:
    """The last sweep started (its request.json in the runs folder, so a reload or a new tab shows it again),
    else SWEEP_DEFAULTS. Read once per session; the URL holds what was typed since."""
    if "sweep_form_start" not in st.session_state:
        spec = get_sweep_runner().snapshot().spec
        if spec is None:
            request = last_request(get_run_store().root)
            spec = request.sweep_spec() if request is not None else None
        st.session_state["sweep_form_start"] = form_values(spec) if spec is not None else initial_form_values()
    return st.session_state["sweep_form_start"]


def _form_defaults() -> dict[str, Any]:
    """What the form starts from in this session: the last sweep started, with what the URL says was typed
    after it (a reload, a bookmark). Read once per session, so the widgets' defaults never change under them."""
    if "sweep_form_defaults" not in st.session_state:
        start = _form_start()
        st.session_state["sweep_form_defaults"] = {**start, **form_from_query(st.query_params.to_dict(), start)}
    return st.session_state["sweep_form_defaults"]


def _form_into_url() -> None:
    """What the form holds beyond the last sweep's values goes into the URL, so a reload keeps it."""
    start = _form_start()
    wanted = form_query({key: st.session_state.get(key, value) for key, value in start.items()}, start)
    current = {k: v for k, v in st.query_params.to_dict().items() if k in start}
    if current != wanted:
        for key in set(current) - set(wanted):
            del st.query_params[key]
        st.query_params.update(wanted)


def _number(column, label: str, key: str, step: int | float | None = None, **options: Any):
    """A number box bounded by NUMBER_BOUNDS, starting from the form's default, kept for the session."""
    low, high = NUMBER_BOUNDS[key]
    value = _form_defaults()[key]
    return column.number_input(label, low, high, value, step, key=key, persist_state="session", **options)


def _axis(column, setting: Setting) -> Axis | None:
    """One axis from its widget: a pick of choices, or a box of values or a range (ValueError names what is wrong)."""
    key = axis_key(setting.name)
    if setting.choices:
        picked = column.multiselect(
            setting.label,
            setting.choices,
            _form_defaults()[key],
            key=key,
            persist_state="session",
            help=_CHOICE_HELP,
            placeholder="not swept",
        )
        return Axis(values=tuple(picked)) if picked else None
    start = _form_defaults()[key]
    return parse_axis(
        column.text_input(setting.label, start, key=key, persist_state="session", max_chars=1000, help=_AXIS_HELP),
        setting.kind,
    )


_AXES_PER_ROW = 3  # six in a row broke "Momentum" mid-word and hid a range such as 0.001:0.5:log at 1,024 px


def _space() -> tuple[dict, list[str]]:
    space, problems = {}, []
    # the last column a little wider: precision's picked choices (fp32 ×, bf16 ×) beside its clear button
    columns = [c for start in range(0, len(_AXES), _AXES_PER_ROW) for c in st.columns([1, 1, 1.3])]
    for column, setting in zip(columns, _AXES, strict=False):
        try:
            axis = _axis(column, setting)
        except ValueError as exc:
            problems.append(f"{setting.label}: {exc}")
            continue
        if axis is not None:
            space[setting.name] = axis
    return space, problems


def _search_row() -> dict[str, Any]:
    """Search, trials, seed and test slice; each widget starts from the last sweep, else SWEEP_DEFAULTS (spec.py)."""
    search_col, samples_col, seed_col, test_col = st.columns(4)
    search = search_col.radio(
        "Search",
        SEARCHES,
        index=SEARCHES.index(_form_defaults()["sweep_search"]),
        horizontal=True,
        key="sweep_search",
        persist_state="session",
    )
    samples = _number(
        samples_col, "Trials", "sweep_samples", disabled=search == "grid", help="How many trials random and Optuna draw"
    )
    seed = _number(seed_col, "Search seed", "sweep_seed")
    test_limit = _number(test_col, "Test images", "sweep_test_limit", 1_000, help="0 = all 10,000")
    base = SWEEP_DEFAULTS.base.with_changes(test_limit=int(test_limit) or None)
    return {"base": base, "search": search, "samples": int(samples), "seed": int(seed)}


def _schedule_row() -> dict[str, Any]:
    """Scheduler, ASHA's settings and the sweep's name, starting from the last sweep's."""
    scheduler_col, grace_col, factor_col, name_col = st.columns(4)
    scheduler = scheduler_col.radio(
        "Scheduler",
        SCHEDULERS,
        index=SCHEDULERS.index(_form_defaults()["sweep_scheduler"]),
        horizontal=True,
        key="sweep_scheduler",
        persist_state="session",
        help=_SCHEDULER_HELP,
    )
    asha_off = scheduler != "asha"
    grace = _number(grace_col, "Grace period", "sweep_grace", disabled=asha_off, help=_GRACE_HELP)
    factor = _number(factor_col, "Reduction factor", "sweep_factor", disabled=asha_off, help=_FACTOR_HELP)
    name = name_col.text_input(
        "Sweep name",
        _form_defaults()["sweep_name"],
        key="sweep_name",
        persist_state="session",
        max_chars=60,
        placeholder="empty: the sweep's id",
        help="Names the trials' runs and ends the sweep's id (as ASCII letters, digits and hyphens)",
    )
    return {
        "scheduler": scheduler,
        "grace_period": int(grace),
        "reduction_factor": int(factor),
        "name": name.strip()[:60],
    }


def _resources_row() -> dict[str, Any]:
    """What each trial gets and how many run at once, starting from the last sweep's; and where Ray is."""
    cpu_col, gpu_col, concurrent_col, address_col = st.columns(4)
    cpus = _number(cpu_col, "CPUs per trial", "sweep_cpus", 0.25)
    gpus = _number(gpu_col, "GPUs per trial", "sweep_gpus", 0.25)
    concurrent = _number(concurrent_col, "Max at once", "sweep_concurrent", help="Trials at once; 0 = no limit")
    address_col.text_input(
        "Ray address",
        resolve_ray_address(None),
        key="sweep_address",
        persist_state="session",
        help="Empty starts Ray on this server; auto, host:port or ray://host:10001 joins an existing cluster",
    )
    return {"cpus_per_trial": float(cpus), "gpus_per_trial": float(gpus), "max_concurrent": int(concurrent)}


def _spec_from_widgets() -> tuple[SweepSpec, list[str]]:
    """The spec the widgets describe, and every problem with it."""
    st.markdown(
        "**Space** — each setting a list of values or a range, precision the choices to try; "
        "an empty box keeps the seed's value."
    )
    space, problems = _space()
    spec = SweepSpec(space=space, **_search_row(), **_schedule_row(), **_resources_row())
    return spec, problems + spec.problems()


def _testing_cost(estimate: SweepEstimate) -> str:
    """What testing costs each epoch beside training: all 10,000 test images can cost more than the training."""
    text = (
        f" Each epoch of a trial: about {format_duration(estimate.train_seconds_per_epoch)} training and "
        f"{format_duration(estimate.test_seconds_per_epoch)} testing on {estimate.test_images:,} test images"
    )
    if estimate.test_images > 1_000:
        slice_seconds = estimate.test_seconds_per_epoch * 1_000 / estimate.test_images
        text += f" (Test images 1,000 would test in {format_duration(slice_seconds)}, a noisier score)"
    return text + "."


def _measured_speed() -> MachineSpeed:
    """This machine's speed for the estimate; without CPU runs to read, measured once (a few seconds)."""
    with st.spinner("Measuring this machine's speed for the estimate…"):
        return _speed(str(get_run_store().root))


def _preview(spec: SweepSpec, speed: MachineSpeed) -> None:
    estimate = estimate_sweep(spec, speed)
    trials_col, parallel_col, time_col = st.columns(3)
    trials_col.metric("Trials", f"{estimate.trials:,}")
    parallel_col.metric("At once on this machine", estimate.parallel)
    minutes = estimate.seconds / 60
    time_col.metric(("At most " if estimate.upper_bound else "About ") + "(estimated)", f"{minutes:,.1f} min")
    st.caption(
        f"Estimated from this machine's speed ({speed.train_images_per_second:,.0f} training and "
        f"{speed.test_images_per_second:,.0f} test images/s, from {speed.source}), each trial getting its share "
        "of the cores."
        + _testing_cost(estimate)
        + (" ASHA stops poor trials early, so it should take less." if estimate.upper_bound else "")
    )


def _start(spec: SweepSpec) -> None:
    runner = get_sweep_runner()
    try:
        with st.spinner("Starting the sweep…"):
            runner.start(spec, address=st.session_state.get("sweep_address") or None)
    except SweepBusyError as exc:
        st.warning(escape_markdown(exc), icon=":material/hourglass_top:")
    except (SweepError, RayUnavailableError) as exc:
        st.error(f"The sweep was not started: {escape_markdown(exc)}", icon=":material/block:")
    else:
        st.rerun()


def _sweep_view(snap: SweepSnapshot, runs: list[RunInfo]) -> None:
    """The running (or last) sweep: status, Stop, trials table, curves, best trial."""
    runs_by_id = {r.id: r for r in runs}
    elapsed = snap.elapsed_seconds or 0.0
    st.markdown(
        f"**Sweep {escape_markdown(snap.sweep_id)}** — {escape_markdown(snap.state)} · {elapsed:,.0f} s · "
        f"{escape_markdown(snap.ray)}"
    )
    if snap.error:
        st.error(escape_markdown(snap.error))
    stopping = snap.state == SweepState.STOPPING
    if snap.busy and st.button("Stop sweep", key="stop_sweep", icon=":material/stop:", disabled=stopping):
        get_sweep_runner().stop()
        st.rerun()
    if snap.state.is_final and snap.spec is not None:
        st.button(
            "Run again",
            key="sweep_run_again",
            icon=":material/replay:",
            on_click=_fill_form,
            args=(snap.spec, snap.sweep_id),
            help="Fill the form above with this sweep's settings; check them (and the estimate), then Start sweep.",
        )
    if not snap.trials:
        if snap.busy:
            st.info("Starting Ray and placing the first trials…")
        return
    st.dataframe(
        pd.DataFrame(trial_rows(snap.trials, snap.best, runs_by_id, sweep_ended=not snap.busy)),
        placeholder=MISSING,  # a trial not started yet, or one with no score so far
        hide_index=True,
        key="sweep_trials",
        column_config=_TRIAL_COLUMNS,
    )
    trial_runs = [runs_by_id[t.run_id] for t in snap.trials if t.run_id in runs_by_id]
    if trial_runs:
        st.plotly_chart(curves_figure(load_curves(get_run_store(), trial_runs), "test_accuracy"), key="sweep_curves")
    best = snap.best
    if best is not None and best.run_id in runs_by_id:
        accuracy = f"{100 * best.best_accuracy:.2f}%"
        st.success(
            f"Best trial: {escape_markdown(best.trial_id)} (run {escape_markdown(best.run_id)}), "
            f"{accuracy} test accuracy"
        )
        # a row that wraps, under the message: in a quarter-width column the link's label was cut at 1,024 px
        actions = st.container(horizontal=True, vertical_alignment="center", key="sweep_best_actions")
        if runs_by_id[best.run_id].has_checkpoint and actions.button("Use in Draw", key="sweep_use_best"):
            st.session_state["draw_run_id"] = best.run_id
        with actions:
            use_these_settings_link(runs_by_id[best.run_id].config)  # the best trial's settings into the Train form
        if st.session_state.get("draw_run_id") == best.run_id:
            actions.caption("The Draw page uses this run.", width="content")


def _fill_form(spec: SweepSpec, sweep_id: str | None) -> None:
    """Run again's callback, before the form is drawn: every widget takes the ended sweep's value."""
    st.session_state.update(form_values(spec))
    st.session_state["sweep_filled_from"] = sweep_id


def _lr_range(result: LrFindResult) -> str:
    """The range test's band as the lr axis's text: a log range, 'low:high:log'."""
    return f"{lr_find.rounded(result.low):g}:{lr_find.rounded(result.high):g}:log"


def _use_lr_range(result: LrFindResult) -> None:
    """The button's callback, before the widgets are drawn: the band into the lr box; a range needs a
    random or Optuna search, so a grid search becomes random."""
    st.session_state["sweep_lr"] = _lr_range(result)
    if st.session_state.get("sweep_search") == "grid":
        st.session_state["sweep_search"] = "random"


def _lr_finder() -> None:
    """Find a learning rate for the sweep's base settings; its band can become the lr axis's range."""
    base = SWEEP_DEFAULTS.base
    settings = LrFindSettings(momentum=base.momentum, batch_size=base.batch_size, seed=base.seed)
    lr_find.start_button("sweep", settings, lr_find.IMAGES)
    lr_find.result_panel("sweep", lambda r: f"Sweep lr over {_lr_range(r)}", _use_lr_range)


def sweep_tab(runs: list[RunInfo]) -> None:
    """The whole tab: the form (when no sweep runs) and the current or last sweep."""
    runner = get_sweep_runner()
    snap = runner.snapshot()
    if not snap.busy:
        st.write(
            "Run a hyperparameter sweep on Ray Tune: trials in parallel, poor ones stopped early by ASHA, "
            "a smart search with Optuna. Each trial is an ordinary run in the table above."
        )
        _lr_finder()
        filled = st.session_state.pop("sweep_filled_from", None)
        if filled:
            st.info(f"The form holds sweep {escape_markdown(filled)}'s settings: check them, then Start sweep.")
        spec, problems = _spec_from_widgets()
        _form_into_url()
        for problem in problems:
            st.error(escape_markdown(problem))
        speed = _measured_speed()  # even with problems: the standby below must never start before it
        if not problems:
            _preview(spec, speed)
        if st.button("Start sweep", type="primary", disabled=bool(problems), key="start_sweep"):
            _start(spec)
        # Only now, after the estimate measured this machine: a Ray starting beside that measurement made it
        # 15 times too slow. The standby's Ray then waits, so Start trains within seconds.
        runner.warm_up()
    if snap.sweep_id and snap.busy:
        st.fragment(run_every=2.0)(_live_sweep)()
    elif snap.sweep_id:  # ended: drawn with the page, so Run again's click redraws the form above too
        _live_sweep()
    if not snap.busy:  # once the trials are in: which setting mattered (any sweep in the runs folder)
        importance_panel(runs, snap.sweep_id)


def _live_sweep() -> None:
    snap = get_sweep_runner().snapshot()
    _sweep_view(snap, get_run_store().runs())
