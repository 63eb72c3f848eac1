"""How many CPU threads a run uses, chosen so that it keeps most of its speed on a shared machine.

PyTorch's default is one OpenMP thread per core. When other programs keep those cores busy, the
threads wait for each other at every operation while the scheduler runs someone else, and a
training step got 10-40x slower with 2 threads on 2 busy cores, where 1 thread only shares its
core. So 'auto' counts the CPUs this process may use and the load already on them, and uses
only the cores that are mostly idle, at least one. The cost of guessing low on a quiet machine is
at most the parallel speed-up; guessing high on a busy one costs far more, so ties go to fewer.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

__all__ = ["IDLE_SHARE_FOR_A_THREAD", "ThreadChoice", "choose_threads", "usable_cpus"]

# A core counts as free for one of our threads when at least this share of it is idle.
IDLE_SHARE_FOR_A_THREAD = 0.7


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


def choose_threads(
    requested: int | None, *, own_threads: int = 0, cpus: int | None = None, load: float | None = None
) -> ThreadChoice:
    """`requested` threads, or for None the count that fits the idle cores.

    `own_threads` are threads of this run that are already working and so counted in the load
    (when choosing again between epochs); `cpus` and `load` default to this machine's now.
    """
    cpus = usable_cpus() if cpus is None else cpus
    if requested is not None:
        note = f" (more than the {cpus} usable CPUs: expect it to be slow)" if requested > cpus else ""
        return ThreadChoice(requested, f"{requested} asked for{note}")
    load = _load_average() if load is None else load
    if load is None:
        return ThreadChoice(cpus, f"auto: {cpus} usable CPUs; the load is unknown here, so one thread per CPU")
    others = max(0.0, load - own_threads)
    idle = cpus - others
    count = max(1, min(cpus, math.floor(idle + 1 - IDLE_SHARE_FOR_A_THREAD)))
    if count == cpus:
        why = "they are idle"
    else:
        why = "other programs keep the rest busy, and threads that wait for busy cores slow a run down many times"
    return ThreadChoice(
        count,
        f"auto: {cpus} usable CPUs, load from other programs {others:.1f}: {count} thread"
        f"{'s' if count != 1 else ''}, {why}",
    )
