"""A sweep's state, trials and defaults as plain data: readable without Ray, and stated once for the
Sweep tab and the CLI."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from helpers import open_app_page

from resnet_mnist.cli.sweep import add_sweep_parser
from resnet_mnist.sweeps.outcome import SweepOutcome, SweepState, TrialView, best_trial
from resnet_mnist.sweeps.spec import SWEEP_DEFAULTS

REPO = Path(__file__).resolve().parents[2]
SEARCH_OPTIONS = [
    "search",
    "samples",
    "seed",
    "scheduler",
    "grace_period",
    "reduction_factor",
    "cpus_per_trial",
    "gpus_per_trial",
    "max_concurrent",
    "name",
]


def test_the_sweep_runner_the_tab_and_the_cli_read_a_sweep_without_importing_ray() -> None:
    code = (
        "import sys; import resnet_mnist.sweeps.outcome, resnet_mnist.jobs.sweep_runner, resnet_mnist.cli.sweep; "
        "print('ray' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"


def test_the_best_trial_is_the_most_accurate_one_with_a_run() -> None:
    trials = (
        TrialView("a", "TERMINATED", {"lr": 0.01}, run_id="r1", best_accuracy=0.90),
        TrialView("b", "ERROR", {"lr": 0.5}, run_id=None, best_accuracy=0.99, error="diverged"),  # no run to show
        TrialView("c", "RUNNING", {"lr": 0.05}, run_id="r3", best_accuracy=0.95),
        TrialView("d", "PENDING", {"lr": 0.1}),
    )
    assert best_trial(trials) is trials[2]
    assert SweepOutcome("s", trials, stopped=False).best is trials[2]
    assert best_trial(trials[3:]) is None
    assert [t.ended for t in trials] == [True, True, False, False]


def test_sweep_states_read_as_their_names_and_say_which_hold_the_cores() -> None:
    assert [s for s in SweepState if s.is_active] == [SweepState.RUNNING, SweepState.STOPPING]
    assert [s for s in SweepState if s.is_final] == [SweepState.FINISHED, SweepState.STOPPED, SweepState.FAILED]
    assert SweepState.STOPPING == "stopping" and f"{SweepState.FAILED}" == "failed"


def test_the_cli_with_no_options_sweeps_with_the_spec_defaults() -> None:
    parser = argparse.ArgumentParser()
    add_sweep_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sweep"])
    assert {name: getattr(args, name) for name in SEARCH_OPTIONS} == {
        name: getattr(SWEEP_DEFAULTS, name) for name in SEARCH_OPTIONS
    }
    assert args.test_limit == SWEEP_DEFAULTS.base.test_limit


def test_the_sweep_tab_starts_from_the_spec_defaults(data_root: Path) -> None:
    at = open_app_page("pages/runs.py", runs_tab="Sweep")
    default = SWEEP_DEFAULTS
    assert at.radio(key="sweep_search").value == default.search
    assert at.radio(key="sweep_scheduler").value == default.scheduler
    widgets = {
        "sweep_samples": default.samples,
        "sweep_seed": default.seed,
        "sweep_grace": default.grace_period,
        "sweep_factor": default.reduction_factor,
        "sweep_cpus": default.cpus_per_trial,
        "sweep_gpus": default.gpus_per_trial,
        "sweep_concurrent": default.max_concurrent,
        "sweep_test_limit": default.base.test_limit or 0,
    }
    assert {key: at.number_input(key=key).value for key in widgets} == widgets
    assert at.text_input(key="sweep_name").value == default.name
