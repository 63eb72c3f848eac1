"""The Sweep form's estimate (issue 25.9): what testing on every test image costs, and a measurement of
this machine taken on idle cores, before the tab's standby starts its Ray beside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import open_app_page, sweep_processes_for


def test_the_estimate_says_what_testing_on_every_test_image_costs() -> None:
    """Issue 25.9: the Sweep's test images default to all 10,000; the estimate says what that costs."""
    at = open_app_page("pages/runs.py", runs_tab="Sweep")
    assert at.number_input(key="sweep_test_limit").value == 0  # all
    [caption] = [c.value for c in at.caption if "testing on" in c.value]
    assert "testing on 10,000 test images" in caption and "Test images 1,000 would test in" in caption, caption
    at.number_input(key="sweep_test_limit").set_value(1000).run()
    [caption] = [c.value for c in at.caption if "testing on" in c.value]
    assert "testing on 1,000 test images" in caption and "would test in" not in caption, caption


def started_by(pid: int) -> float:
    """By when process `pid` had started, on time.monotonic()'s clock (seconds since boot). stat(5) gives the
    start in whole clock ticks, rounded down, so the start lies within the tick after the one it names."""
    after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(after_name[19]) + 1) / os.sysconf("SC_CLK_TCK")  # field 22 of stat(5): starttime, in ticks


@pytest.mark.ray  # the standby starts a local Ray: inside the loopback namespace, as the whole suite runs
def test_the_speed_is_measured_before_the_standby_starts_its_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """Measured beside a Ray starting, the speed read 567 training images/s against 8,619 alone (2-core Xeon):
    an estimate 15 times too long, cached for ten minutes."""
    from pages._common import get_run_store, get_sweep_runner
    from pages._sweep import _speed

    monkeypatch.setenv("RESNET_MNIST_SWEEP_STANDBY", "60")
    runs = Path(os.environ["RESNET_MNIST_RUNS"])  # empty: no CPU run to read a speed from, so it measures
    at = open_app_page("pages/runs.py", runs_tab="Sweep")
    try:
        speed = _speed(str(get_run_store().root))  # the page's cached measurement
        [standby] = list((runs / ".sweeps").iterdir())
        [pid] = sweep_processes_for(standby)
        assert speed.source.endswith("measurement just now") and speed.measured_at > 0
        began = started_by(pid)
        assert speed.measured_at <= began, f"measured {speed.measured_at - began:.2f} s after the standby began"
        assert any("training and" in c.value for c in at.caption)
    finally:
        assert get_sweep_runner().stop(timeout=60)


def test_asha_and_its_two_settings_say_what_they_do() -> None:
    """Issue 25.6: ASHA, grace period and reduction factor had no help."""
    at = open_app_page("pages/runs.py", runs_tab="Sweep")
    assert "Asynchronous Successive Halving" in at.radio(key="sweep_scheduler").help
    assert "no trial is stopped before it" in at.number_input(key="sweep_grace").help
    assert "only the best" in at.number_input(key="sweep_factor").help
