"""How many CPU threads a run uses, chosen so that it keeps most of its speed on a shared machine.

PyTorch's default is one OpenMP thread per core. When other programs keep those cores busy, the
threads wait for each other at every operation while the scheduler runs someone else, and a
training step got 10-40x slower with 2 threads on 2 busy cores, where 1 thread only shares its
core. So 'auto' counts the CPUs this process may use and the load already on them, and uses
only the cores that are mostly idle, at least one. The cost of guessing low on a quiet machine is
at most the parallel speed-up; guessing high on a busy one costs far more, so ties go to fewer.

The load is read two ways. The 1-minute load average sees a load that comes and goes, but lags: a
minute after a run ends (the previous run, or the seed script beside which the bench times us)
it still counts a core or two busy, and the next run took 1 thread on an idle 2-core machine. A
0.1 s look at the cores' busy time (Linux's /proc/stat, for this process's CPUs) sees what is
busy now. The lesser of the two counts: a core that is idle now, or idle on average, gets a
thread. The choice is made again at each epoch, so a load that comes back is seen at the next.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass

__all__ = ["IDLE_SHARE_FOR_A_THREAD", "LOOK_SECONDS", "ThreadChoice", "busy_cpus", "choose_threads", "usable_cpus"]

# A core counts as free for one of our threads when at least this share of it is idle.
IDLE_SHARE_FOR_A_THREAD = 0.7
LOOK_SECONDS = 0.1  # a look at the cores: long enough to see a busy loop (10 clock ticks), short beside an epoch


@dataclass(frozen=True)
class ThreadChoice:
    """How many threads, and why, in words for the Train page."""

    count: int
    reason: str


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no affinity call
        return max(1, os.cpu_count() or 1)


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows
        return None


def _cpu_times(cpus: frozenset[int]) -> tuple[float, float] | None:
    """(busy, total) clock ticks so far of the CPUs `cpus`, from /proc/stat; None where there is no such file."""
    busy = total = 0.0
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            for line in stat:
                name, *ticks = line.split()
                if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
                    continue
                counted = [float(t) for t in ticks[:8]]  # user … steal; guest time is inside user
                total += sum(counted)
                busy += sum(counted) - counted[3] - counted[4]  # less idle and iowait
    except (OSError, ValueError):
        return None
    return (busy, total) if total else None


_looked: tuple[float, float] | None = None  # (when, busy CPUs) of the latest look, for callers that may reuse it
_look_lock = threading.Lock()


def busy_cpus(seconds: float = LOOK_SECONDS, *, reuse_within: float = 0.0) -> float | None:
    """How many of this process's CPUs were busy over the next `seconds` (this thread sleeps meanwhile).

    `reuse_within` lets a caller that asks often (the Train page, at every rerun) take a look that
    is at most that many seconds old instead of waiting. None where the busy time cannot be read.
    """
    global _looked
    with _look_lock:
        if _looked is not None and time.monotonic() - _looked[0] <= reuse_within:
            return _looked[1]
    cpus = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()
    before = _cpu_times(cpus)
    if before is None:
        return None
    time.sleep(seconds)
    after = _cpu_times(cpus)
    if after is None or after[1] <= before[1]:
        return None
    busy = len(cpus) * (after[0] - before[0]) / (after[1] - before[1])
    with _look_lock:
        _looked = (time.monotonic(), busy)
    return busy


def choose_threads(
    requested: int | None,
    *,
    own_threads: int = 0,
    cpus: int | None = None,
    load: float | None = None,
    busy: float | None = None,
    reuse_within: float = 0.0,
) -> ThreadChoice:
    """`requested` threads, or for None the count that fits the idle cores.

    `load` is the 1-minute load average, `busy` the CPUs busy now (see busy_cpus); both default to
    this machine's (`reuse_within`: see busy_cpus). `own_threads` are threads of this run counted in
    the load average (when choosing again between epochs); they sleep during the look at the cores.
    """
    cpus = usable_cpus() if cpus is None else cpus
    if requested is not None:
        note = f" (more than the {cpus} usable CPUs: expect it to be slow)" if requested > cpus else ""
        return ThreadChoice(requested, f"{requested} asked for{note}")
    if load is None and busy is None:
        load, busy = _load_average(), busy_cpus(reuse_within=reuse_within)
    if load is None and busy is None:
        return ThreadChoice(cpus, f"auto: {cpus} usable CPUs; the load is unknown here, so one thread per CPU")
    averaged = None if load is None else max(0.0, load - own_threads)
    others = min(v for v in (averaged, busy) if v is not None)
    idle = cpus - others
    count = max(1, min(cpus, math.floor(idle + 1 - IDLE_SHARE_FOR_A_THREAD)))
    if count == cpus:
        why = "they are idle"
    else:
        why = "other programs keep the rest busy, and threads that wait for busy cores slow a run down many times"
    return ThreadChoice(
        count,
        f"auto: {cpus} usable CPUs, load from other programs {others:.1f}{_sources(averaged, busy)}: "
        f"{count} thread{'s' if count != 1 else ''}, {why}",
    )


def _sources(averaged: float | None, busy: float | None) -> str:
    """Where the load figure came from, when both were read: '(busy now 0.0, 1-minute average 2.1)'."""
    if averaged is None or busy is None:
        return ""
    return f" (busy now {busy:.1f}, 1-minute average {averaged:.1f})"
