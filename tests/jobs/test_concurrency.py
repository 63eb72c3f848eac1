"""Concurrency: sessions share one job, a second cannot start another, and start/stop cycles leak nothing."""

from __future__ import annotations

import gc
import os

from helpers import (
    badge,
    open_app,
    rerun_until,
    set_quick_run,
    the_page_worker,
    wait_for,
)

from resnet_mnist import RunState, TrainConfig, TrainingWorker


def test_two_sessions_see_one_job_the_second_cannot_start_another_and_closing_one_keeps_it(
    app_sessions: None,
) -> None:
    first = open_app("pages/train.py")
    set_quick_run(first, epochs=20, train_limit=2000, test_limit=300)
    first.button(key="train_start").click().run()
    assert not first.error and not first.warning
    job = the_page_worker().snapshot().run_id or wait_for(the_page_worker(), lambda s: s.run_id is not None).run_id

    second = open_app("pages/train.py")  # a second tab, or the same tab after a refresh
    rerun_until(second, lambda s: len(s.batches) >= 1)
    assert "running" in badge(second) and job in badge(second)
    second.button(key="train_start").click().run()
    assert any("already running" in w.value for w in second.warning)
    assert the_page_worker().snapshot().run_id == job
    assert len(the_page_worker().store.runs()) == 1

    del first  # the first tab is closed: its session goes away
    gc.collect()
    seen = len(the_page_worker().snapshot().batches)
    snap = wait_for(the_page_worker(), lambda s: len(s.batches) > seen + 2)
    assert snap.state is RunState.RUNNING and snap.run_id == job
    second.run()
    assert "running" in badge(second)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_twenty_start_stop_cycles_leave_memory_flat(worker: TrainingWorker) -> None:
    tiny = TrainConfig(epochs=1, train_limit=640, test_limit=100, log_interval=1, device="cpu")

    def cycle() -> None:
        worker.start(tiny)
        wait_for(worker, lambda s: len(s.batches) > 0 or s.state.is_final)
        assert worker.stop(timeout=30)

    for _ in range(5):  # warm up: thread pools, allocator arenas, lazily imported code
        cycle()
    gc.collect()
    before = _rss_bytes()
    for _ in range(20):
        cycle()
    gc.collect()
    grown = _rss_bytes() - before
    assert grown < 50e6, f"20 start/stop cycles grew the process by {grown / 1e6:.1f} MB"
    assert len(worker.store.runs()) == 25
