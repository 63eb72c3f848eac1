"""Where sweeps run: a local Ray started once per process on demand, or an existing cluster.

Ray is imported only here and in tune.py, and only when a sweep needs it, so the rest of the
package (and the dashboard) works without it. Every way of not getting a Ray (not installed, a
malformed or unreachable address) is one RayUnavailableError with one sentence, raised before
anything is started.
"""

from __future__ import annotations

import atexit
import os
import queue
import re
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

__all__ = [
    "RAY_ADDRESS_ENV_VAR",
    "RAY_TMPDIR_ENV_VAR",
    "RayConnection",
    "RayUnavailableError",
    "check_address",
    "connect_ray",
    "resolve_ray_address",
    "shutdown_ray",
]

RAY_ADDRESS_ENV_VAR = "RESNET_MNIST_RAY_ADDRESS"
RAY_TMPDIR_ENV_VAR = "RESNET_MNIST_RAY_TMPDIR"  # where a local Ray keeps its sessions (default: /tmp/ray)
OBJECT_STORE_BYTES = 256 * 1024**2  # trials pass only small metric dicts through it
_CONNECT_TIMEOUT_S = 3.0
_HOST_PORT = re.compile(r"^(?:ray://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")
_lock = threading.Lock()
_connection: RayConnection | None = None


class _OwnerThread:
    """One daemon thread that runs the calls given to it and lives as long as the process.

    Ray starts its GCS and raylet with prctl(PR_SET_PDEATHSIG, SIGKILL): they die with the *thread* that
    started them. Streamlit runs each page script in a thread that ends with the run, so a Ray started
    there was killed a moment after Start. A ThreadPoolExecutor's thread lived longer, but Python joins
    it before the atexit handlers run: Ray was killed under the atexit shutdown, which then waited 5 s
    on the dead GCS at the end of every sweep's process. A daemon thread is never joined.
    """

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None

    def call(self, function: Callable[..., object], /, **kwargs: object) -> object:
        """`function(**kwargs)` on the owner thread; its result, or its exception raised here."""
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="resnet-mnist-ray-owner", daemon=True)
                self._thread.start()
        done: Future = Future()
        self._calls.put((done, function, kwargs))
        return done.result()

    def _serve(self) -> None:
        while True:
            done, function, kwargs = self._calls.get()
            try:
                done.set_result(function(**kwargs))
            except BaseException as exc:  # handed to the caller, who raises it
                done.set_exception(exc)


_owner = _OwnerThread()


class RayUnavailableError(RuntimeError):
    """No Ray to run a sweep on: not installed, a bad address, or nothing answering there."""


@dataclass(frozen=True)
class RayConnection:
    """The Ray this process uses: what was asked for, and what it offers."""

    address: str  # "" for the local Ray this process started
    started_here: bool
    cpus: float
    gpus: float
    nodes: int

    def describe(self) -> str:
        where = "a local Ray started by this process" if self.started_here else f"the Ray cluster at {self.address}"
        return f"{where}: {self.nodes} node(s), {self.cpus:g} CPUs, {self.gpus:g} GPUs"


def resolve_ray_address(address: str | None = None) -> str:
    """The address to use: the argument, else $RESNET_MNIST_RAY_ADDRESS, else "" (a local Ray)."""
    if address is not None and address.strip():
        return address.strip()
    return os.environ.get(RAY_ADDRESS_ENV_VAR, "").strip()


def check_address(address: str) -> None:
    """Refuse a malformed address, or a host:port where nothing listens, in seconds rather than minutes.

    (Given a dead host:port, ray.init itself retries for minutes before giving up.)
    """
    if address in ("", "auto", "local"):
        return
    match = _HOST_PORT.match(address)
    if not match:
        raise RayUnavailableError(
            f"{address!r} is not a Ray address: use auto, host:port (e.g. 10.0.0.5:6379) or ray://host:10001"
        )
    host, port = match.group(1).strip("[]"), int(match.group(2))
    try:
        with socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise RayUnavailableError(f"no Ray answers at {address}: {exc.strerror or exc}") from None


def connect_ray(address: str | None = None, *, num_cpus: int | None = None) -> RayConnection:
    """Ray for this process: reused if already up, else connected to `address`, else started locally.

    A local Ray gets this machine's CPUs (or `num_cpus`) and GPUs, no dashboard, a bounded object
    store, and is shut down when the process exits.
    """
    global _connection
    address = resolve_ray_address(address)
    with _lock:
        ray = _import_ray()
        if ray.is_initialized() and _connection is not None:
            if address and address != _connection.address:
                raise RayUnavailableError(
                    f"this process already uses {_connection.describe()}; restart it to use {address} instead"
                )
            return _refresh(ray, _connection)
        check_address(address)
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # never phone home
        os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # runs/ holds the results
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: no progress tables on stdout
        try:
            if ray.is_initialized():  # started by someone else in this process (tests, a notebook)
                started_here = False
            elif address and address != "local":
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
                started_here = False
            else:
                _owner.call(
                    ray.init,
                    # "local": a Ray of our own, never RAY_ADDRESS's or the one a `ray start` left in /tmp/ray
                    address="local",
                    _temp_dir=os.environ.get(RAY_TMPDIR_ENV_VAR) or None,
                    num_cpus=num_cpus,
                    include_dashboard=False,
                    object_store_memory=OBJECT_STORE_BYTES,
                    log_to_driver=False,
                )
                started_here = True
                atexit.register(shutdown_ray)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RayUnavailableError(f"could not start or reach Ray ({address or 'local'}): {exc}") from None
        _connection = _refresh(ray, RayConnection(address, started_here, 0, 0, 0))
        return _connection


def _refresh(ray, connection: RayConnection) -> RayConnection:
    resources = ray.cluster_resources()
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    return RayConnection(
        connection.address,
        connection.started_here,
        float(resources.get("CPU", 0)),
        float(resources.get("GPU", 0)),
        nodes,
    )


def shutdown_ray() -> None:
    """Stop the local Ray this process started (a cluster we only joined keeps running)."""
    global _connection
    with _lock:
        if _connection is None:
            return
        try:
            import ray

            ray.shutdown()
        finally:
            _connection = None


def _import_ray():
    try:
        import ray
        import ray.tune  # the sweep needs Tune too: ray[tune]
    except ImportError as exc:
        raise RayUnavailableError(
            f"Ray Tune is not installed ({exc}); install it with `pip install -r requirements.txt`"
        ) from None
    return ray
