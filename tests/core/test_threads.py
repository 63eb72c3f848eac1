"""The thread count: what is asked for, else the cores that other programs leave idle, never fewer than one."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from resnet_mnist.core.threads import IDLE_SHARE_FOR_A_THREAD, busy_cpus, choose_threads, usable_cpus


def test_usable_cpus_are_the_ones_this_process_may_run_on() -> None:
    assert usable_cpus() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("cpus", "load", "expected"),
    [
        (2, 0.0, 2),  # quiet: one per core
        (2, 0.25, 2),  # a little background noise still leaves both cores mostly idle
        (2, 0.5, 1),  # half a core is taken: waiting on it would cost more than the second thread gives
        (2, 1.0, 1),
        (2, 2.0, 1),  # both busy: one thread, which only shares its core
        (2, 9.0, 1),
        (16, 4.0, 12),
        (16, 0.0, 16),
        (1, 0.0, 1),
    ],
)
def test_auto_uses_the_cores_that_are_mostly_idle(cpus: int, load: float, expected: int) -> None:
    choice = choose_threads(None, cpus=cpus, load=load)
    assert choice.count == expected
    assert choice.reason.startswith(f"auto: {cpus} usable CPUs, load from other programs {load:.1f}")


def test_a_core_counts_as_free_at_the_idle_share() -> None:
    just_free = 1.0 - IDLE_SHARE_FOR_A_THREAD
    assert choose_threads(None, cpus=2, load=just_free - 0.01).count == 2
    assert choose_threads(None, cpus=2, load=just_free + 0.01).count == 1


def test_the_runs_own_threads_are_not_counted_as_others_load() -> None:
    # Between epochs the load includes this run's own 2 threads; alone on the machine it keeps both.
    assert choose_threads(None, own_threads=2, cpus=2, load=2.1).count == 2
    assert choose_threads(None, own_threads=1, cpus=2, load=2.1).count == 1  # someone else took a core


def test_a_core_idle_now_counts_even_while_the_average_still_remembers_a_load() -> None:
    # A minute after the previous run ended the 1-minute average still says 2.1; the cores are idle now.
    lagging = choose_threads(None, cpus=2, load=2.1, busy=0.05)
    assert lagging.count == 2
    assert "load from other programs 0.1 (busy now 0.1, 1-minute average 2.1)" in lagging.reason
    # A load the look at the cores sees but the average does not yet: the lesser still counts.
    assert choose_threads(None, cpus=2, load=0.1, busy=1.0).count == 2
    assert choose_threads(None, cpus=2, load=1.5, busy=1.0).count == 1  # busy on both counts
    assert choose_threads(None, cpus=2, busy=1.0).count == 1  # no load average (Windows): the look alone


def test_a_look_at_the_cores_sees_a_busy_loop() -> None:
    cpus = len(os.sched_getaffinity(0))
    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # let it start
        busy = busy_cpus(0.3)
    finally:
        loop.kill()
        loop.wait()
    assert busy is not None and 0.7 <= busy <= cpus + 0.01  # other work here can only add to it
    reused = busy_cpus(reuse_within=60.0)
    assert reused == busy  # the page's reruns take the recent look instead of waiting for one


def test_the_reason_says_why_fewer_threads_than_cpus() -> None:
    assert "other programs keep the rest busy" in choose_threads(None, cpus=4, load=3.0).reason
    assert "they are idle" in choose_threads(None, cpus=4, load=0.0).reason


def test_an_asked_for_count_is_kept_and_too_many_is_called_out() -> None:
    assert choose_threads(3, cpus=8, load=20.0).count == 3
    assert choose_threads(3, cpus=8, load=20.0).reason == "3 asked for"
    many = choose_threads(64, cpus=8, load=0.0)
    assert many.count == 64 and "more than the 8 usable CPUs" in many.reason


def test_this_machine_gets_at_least_one_and_at_most_its_cpus() -> None:
    choice = choose_threads(None)
    assert 1 <= choice.count <= usable_cpus()
