"""The dashboard's sweep: one sweep at a time, run by a process of its own and followed through files.

The dashboard is never Ray's driver: a Ray that dies (`ray stop`, the OOM killer) would take its
driver's process with it. So Start writes the sweep's request into its folder and starts
`python -m resnet_mnist.sweeps.process FOLDER`, which owns Ray and writes status.json; this runner
only reads that file, watches the process, signals it on Stop, and says so when it died. A sweep
started before the server restarted is found again and followed. Like the TrainingWorker, the page
gets one SweepRunner per server and only reads `snapshot()`.

`warm_up()` (the Sweep tab, on opening) starts that process ahead of need, as a standby
(sweeps/standby.py) that starts its Ray and waits; Start hands it the request, so the first trial
trains seconds after the click instead of after Ray's start. A standby ends unused after 10 idle
minutes, with its server, or with `stop()`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from resnet_mnist.core.files import FileRefused
from resnet_mnist.jobs.background import BackgroundRunner
from resnet_mnist.jobs.cores import CoreClaim
from resnet_mnist.runs.store import RunStore
from resnet_mnist.sweeps.outcome import SweepState, TrialView, best_trial
from resnet_mnist.sweeps.process import local_fit_problems
from resnet_mnist.sweeps.ray_runtime import check_address, resolve_ray_address
from resnet_mnist.sweeps.spec import SweepError, SweepSpec, named_sweep_id, new_sweep_id
from resnet_mnist.sweeps.standby import READY_FILE, claim, forget, standby_seconds
from resnet_mnist.sweeps.status import (
    LOG_FILE,
    REQUEST_FILE,
    STATUS_FILE,
    SweepRequest,
    SweepStatus,
    read_request,
    read_status,
    sweep_folder,
    sweep_folders,
    write_request,
)

__all__ = ["SWEEP_HOLDS_THE_CORES", "SweepBusyError", "SweepRunner", "SweepSnapshot"]

SWEEP_HOLDS_THE_CORES = (
    "A sweep is running on this machine's cores; stop it on the Runs page (Sweep) or wait for it to end."
)
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding resnet_mnist/, for the child's imports
_PYTHONPATH = os.environ.get("PYTHONPATH", "")
_POLL_S = 0.5
SWEEP_EXIT_WAIT_S = 60.0  # how long a start waits for an ended sweep's process to leave Ray (seconds, loaded)


class SweepBusyError(RuntimeError):
    """A sweep is already running, or the Train page's run holds the cores."""


@dataclass(frozen=True)
class SweepSnapshot:
    """The sweep as it stands: its process's status.json, and what became of the process."""

    state: SweepState = SweepState.IDLE
    sweep_id: str | None = None
    spec: SweepSpec | None = None
    trials: tuple[TrialView, ...] = ()  # newest state
    error: str | None = None
    ray: str = ""
    started_at: float | None = None  # wall-clock seconds
    ended_at: float | None = None
    version: int = 0

    @property
    def busy(self) -> bool:
        return self.state.is_active

    @property
    def best(self) -> TrialView | None:
        """The trial with the highest test accuracy so far (one that has a run), or None."""
        return best_trial(self.trials)

    @property
    def elapsed_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at


class SweepRunner(BackgroundRunner):
    """Starts at most one sweep process at a time, stops it, and reads a snapshot of its trials."""

    def __init__(
        self,
        store: RunStore,
        *,
        data_root: str | Path | None = None,
        cores: CoreClaim | None = None,
        standby_s: float | None = None,
    ) -> None:
        # `cores` is shared with the training worker: a sweep holds it while its process lives
        super().__init__(cores, kind="sweep", refusal=SWEEP_HOLDS_THE_CORES, busy=SweepBusyError)
        self.store = store
        self.data_root = data_root
        # how long a standby waits for Start (seconds; 0: none): $RESNET_MNIST_SWEEP_STANDBY, else 10 minutes
        self.standby_s = standby_seconds() if standby_s is None else standby_s
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._followed: _FollowedSweep | None = None
        self._standby = _StandbySlot()
        weakref.finalize(self, self._standby.end)  # a runner dropped (a cache cleared) takes its standby along
        self._find_a_running_sweep()

    def warm_up(self) -> None:
        """Start a standby sweep process (its local Ray up, waiting for Start), unless one is there or a sweep runs.

        Only for a local Ray (a cluster is up already), and not while a run or a sweep has the cores (a
        Ray starting takes CPU from them). Costs a Ray's memory for at most `standby_s` seconds.
        """
        busy = self.cores is not None and self.cores.holder is not None
        if self.standby_s <= 0 or resolve_ray_address(None) or self.is_alive() or busy:
            return
        with contextlib.suppress(OSError):  # best effort: no standby (a read-only runs folder) is only a cold Start
            self._standby.start(lambda: _start_standby(self.store.root, self.standby_s, self.data_root))

    @property
    def warm(self) -> bool:
        """Whether a standby's Ray is up and waiting, so Start trains within seconds."""
        return self._standby.ready()

    def start(self, spec: SweepSpec, *, address: str | None = None, num_cpus: int | None = None) -> str:
        """Check everything, then start the sweep's process; returns the sweep's id.

        Raises SweepError (bad spec, or a trial that cannot fit this machine), SweepBusyError, or
        RayUnavailableError (a bad address), each before anything starts. A cluster's resources are
        checked by the sweep's process, which then ends the sweep as failed, saying why. Made the moment
        the last sweep's end shows, it waits (at most SWEEP_EXIT_WAIT_S) for that sweep's process to exit.
        """
        problems = spec.problems()
        address = resolve_ray_address(address)
        if not problems and not address:
            problems = local_fit_problems(spec, num_cpus)
        if problems:
            raise SweepError(problems)
        with self._start_lock:  # one start at a time: two made at once must not both launch
            # A sweep's process writes its end, then spends seconds more leaving Ray (2.3 s on a quiet
            # 2-core Xeon; 5.9 s before ray_runtime's owner thread outlived the atexit shutdown): the tab
            # offers Start from that end, and such a start waits for the exit.
            self._wait_out_ended_work(lambda: not self.snapshot().busy, within=SWEEP_EXIT_WAIT_S)
            if self.is_alive():
                if not self.snapshot().busy:
                    raise SweepBusyError(
                        "The last sweep has ended, but its process is still leaving Ray; try again in a few seconds."
                    )
                raise SweepBusyError(
                    "A sweep is already running; stop it (or wait for it to end) before starting another."
                )
            check_address(address)  # RayUnavailableError in seconds, not Ray's minutes of retries
            holder = self._claim_cores()  # SweepBusyError while a run has them
            try:
                return self._start_process(spec, address, num_cpus, holder)
            except BaseException:
                self._release_cores(holder)
                raise

    def _start_process(self, spec: SweepSpec, address: str, num_cpus: int | None, holder: str) -> str:
        data_root = str(self.data_root) if self.data_root is not None else None
        root = str(self.store.root.resolve())
        standby = self._standby.take() if not address and num_cpus is None else None
        self._standby.end()  # a standby this sweep cannot use (another Ray asked for) goes
        if standby is not None:  # claimed: its process runs the request on the Ray it has up
            sweep_id = named_sweep_id(standby.sweep_id, spec.name)
            write_request(standby.folder, SweepRequest(sweep_id, spec.to_dict(), root, data_root, address, num_cpus))
            folder = sweep_folder(self.store.root, sweep_id)  # where its process moves the folder (a name's slug)
        else:
            sweep_id = new_sweep_id(spec.name)
            folder = sweep_folder(self.store.root, sweep_id)
            folder.mkdir(parents=True)
            write_request(folder, SweepRequest(sweep_id, spec.to_dict(), root, data_root, address, num_cpus))
        process = standby.process if standby is not None else _spawn(folder, [], self.data_root)
        followed = _FollowedSweep(folder, sweep_id, spec, process.pid, started_at=time.time(), process=process)
        with self._lock:
            self._followed = followed
        self._launch(followed.wait, holder, thread_name="resnet-mnist-sweep")
        return sweep_id

    def stop(self, timeout: float | None = None) -> bool:
        """Stop every trial (each saves itself as a stopped run); True once the sweep's process has ended.

        A standby goes too (its end is waited for).
        """
        self._standby.end()
        with self._lock:
            followed = self._followed
        if followed is not None and self.is_alive():
            followed.ask_to_stop()
        return self.join(timeout) if timeout is not None else not self.is_alive()

    def snapshot(self) -> SweepSnapshot:
        with self._lock:
            followed = self._followed
        return followed.snapshot() if followed is not None else SweepSnapshot()

    def _find_a_running_sweep(self) -> None:
        """After a restart: follow the newest sweep if its process still runs, or show how it ended (or died)."""
        # a standby's folder holds no request until Start: it is no sweep yet
        folders = [f for f in sweep_folders(self.store.root) if (f / REQUEST_FILE).exists()]
        if not folders:
            return
        folder = folders[0]
        try:
            request, status = read_request(folder), read_status(folder)
        except FileRefused:
            return
        if status is None:
            return
        followed = _FollowedSweep(folder, request.sweep_id, request.sweep_spec(), status.pid, status.started_at)
        with self._lock:
            self._followed = followed  # an ended one too: the Sweep tab shows how it ended, and can run it again
        if status.state.is_final:
            return
        if not followed.process_alive():
            followed.ended_without_finishing(None)
            return
        try:
            holder = self._claim_cores()
        except SweepBusyError:  # another process took the cores while no server held them: follow, claim nothing
            holder = None
        self._launch(followed.wait, holder, thread_name="resnet-mnist-sweep")


def _spawn(folder: Path, options: list[str], data_root: str | Path | None) -> subprocess.Popen:
    """`python -m resnet_mnist.sweeps.process [options] FOLDER`, in a session of its own, logging to the folder."""
    with open(folder / LOG_FILE, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "resnet_mnist.sweeps.process", *options, str(folder)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this server; a Ctrl-C here does not stop the sweep
            env=_child_environment(data_root),
        )


def _child_environment(data_root: str | Path | None = None) -> dict[str, str]:
    """The server's environment, plus the package on the path and a driver that gives up on a dead Ray soon."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_PACKAGE_ROOT), _PYTHONPATH]))}
    if data_root is not None:  # where Ray's workers parse MNIST ahead of the first trial (warm_worker.py)
        env["RESNET_MNIST_DATA"] = str(data_root)
    # Ray's driver waits 60 s for a GCS that has gone before it exits; the local GCS is on this machine,
    # so 10 s without it means it is dead, and the Sweep tab can say so (and a new sweep start) sooner.
    env.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", "10")
    return env


@dataclass(frozen=True)
class _Standby:
    folder: Path
    sweep_id: str
    process: subprocess.Popen


def _start_standby(runs_root: Path, seconds: float, data_root: str | Path | None) -> _Standby:
    sweep_id = new_sweep_id()  # the sweep it will run takes this id (and folder)
    folder = sweep_folder(runs_root, sweep_id)
    folder.mkdir(parents=True)
    options = ["--standby", f"{seconds:g}", "--parent", str(os.getpid())]  # it leaves when this server is gone
    return _Standby(folder, sweep_id, _spawn(folder, options, data_root))


class _StandbySlot:
    """The runner's standby, if any; `end` needs no runner (weakref.finalize calls it when the runner goes)."""

    _END_S = 30.0  # SIGTERM, then this long for its Ray to shut down, then SIGKILL (Ray's processes go with it)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: _Standby | None = None

    def start(self, make: Callable[[], _Standby]) -> None:
        """A new standby from `make`, unless one is waiting; one that left by itself is reaped first."""
        with self._lock:
            if self._current is not None and self._current.process.poll() is None:
                return
            left, self._current = self._current, None
            if left is not None:
                left.process.wait()
                forget(left.folder)
            self._current = make()

    def ready(self) -> bool:
        standby = self._current
        return standby is not None and standby.process.poll() is None and (standby.folder / READY_FILE).exists()

    def take(self) -> _Standby | None:
        """The standby, claimed for a request; None when there is none or it has claimed itself to leave."""
        with self._lock:
            standby = self._current
            if standby is None or standby.process.poll() is not None or not claim(standby.folder):
                return None  # end() reaps one that left or is leaving
            self._current = None
            return standby

    def end(self) -> None:
        """SIGTERM the standby and wait for it (its Ray shut down), then remove its folder."""
        with self._lock:
            standby, self._current = self._current, None
        if standby is None:
            return
        if standby.process.poll() is None:
            standby.process.terminate()
            try:
                standby.process.wait(self._END_S)
            except subprocess.TimeoutExpired:
                standby.process.kill()
                standby.process.wait()
        forget(standby.folder)


class _FollowedSweep:
    """One sweep's process as the dashboard follows it: its status file, its life, how it ended."""

    def __init__(
        self,
        folder: Path,
        sweep_id: str,
        spec: SweepSpec,
        pid: int,
        started_at: float,
        process: subprocess.Popen | None = None,
    ) -> None:
        self.folder, self.sweep_id, self.spec, self.pid = folder, sweep_id, spec, pid
        self.started_at = started_at
        self._process = process  # None for a sweep found after a restart: not this server's child
        self._lock = threading.Lock()
        self._stop_asked = False
        self._death: tuple[str, float] | None = None  # what the page says when the process died, and when
        self._status: tuple[tuple[int, int, int], SweepStatus | None] | None = None  # status.json by its stat
        self._cache: tuple[tuple, SweepSnapshot] | None = None
        self._version = 0

    def wait(self) -> None:
        """Until the process ends (the background thread's work); then note it if it ended unfinished."""
        code: int | None = None
        if self._process is not None:
            code = self._process.wait()
        else:
            while self.process_alive():
                time.sleep(_POLL_S)
        status = self._status_or_none()
        if status is None or not status.state.is_final:
            self.ended_without_finishing(code)

    def process_alive(self) -> bool:
        """Whether the sweep's process still runs (and is that process, not another that took its pid)."""
        if self._process is not None:
            return self._process.poll() is None
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return False
        # a standby's command line names the folder it had before it took the sweep's name (its id): same parent
        return b"resnet_mnist.sweeps.process" in cmdline and str(self.folder.parent).encode() in cmdline

    def ask_to_stop(self) -> None:
        with self._lock:
            self._stop_asked = True
        with contextlib.suppress(ProcessLookupError):  # already gone: wait() says how it ended
            os.kill(self.pid, signal.SIGTERM)

    def ended_without_finishing(self, code: int | None) -> None:
        how = f"exit code {code}" if code is not None and code >= 0 else "killed" if code is not None else "gone"
        now = time.time()
        last = _last_line(self.folder / LOG_FILE)
        message = (
            f"The sweep's process ended at {time.strftime('%H:%M:%S', time.localtime(now))} without finishing "
            f"({how}" + (f"; its log's last line: {last}" if last else "") + "). Trials that were training read "
            "as interrupted, each with its last checkpoint; a new sweep can start now."
        )
        with self._lock:
            self._death = (message, now)

    def snapshot(self) -> SweepSnapshot:
        status = self._status_or_none()
        with self._lock:
            key = (status, self._stop_asked, self._death)
            if self._cache is not None and self._cache[0] == key:
                return self._cache[1]
            self._version += 1
            snap = self._compose(status)
            self._cache = (key, snap)
            return snap

    def _compose(self, status: SweepStatus | None) -> SweepSnapshot:
        snap = SweepSnapshot(
            state=SweepState.RUNNING,
            sweep_id=self.sweep_id,
            spec=self.spec,
            started_at=self.started_at,
            version=self._version,
        )
        if status is not None:
            snap = replace(
                snap,
                state=status.state,
                trials=status.trials,
                error=status.error,
                ray=status.ray,
                ended_at=status.ended_at,
            )
        if self._stop_asked and snap.state is SweepState.RUNNING:
            snap = replace(snap, state=SweepState.STOPPING)
        if self._death is not None and not snap.state.is_final:
            snap = replace(snap, state=SweepState.FAILED, error=self._death[0], ended_at=self._death[1])
        return snap

    def _status_or_none(self) -> SweepStatus | None:
        """status.json, read again only when its process has replaced it (each write is a new file)."""
        try:
            stat = os.stat(self.folder / STATUS_FILE)
            key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except OSError:
            return None
        cached = self._status
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            status = read_status(self.folder)
        except FileRefused:
            status = None  # damaged: no news (a write is atomic, so it is never half a file)
        self._status = (key, status)
        return status


def _last_line(path: Path, tail: int = 4096) -> str:
    """The log's last non-empty line (at most 300 characters), read from its last `tail` bytes only."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - tail))
            lines = [line.strip() for line in handle.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""
