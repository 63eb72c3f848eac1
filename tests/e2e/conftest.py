"""End-to-end harness: a real `streamlit run app.py` server and a real headless Chromium.

Each test module gets its own server and its own runs folder (fixture `runs_folder`, which a
module may override to seed it, as the Draw scenarios do with a trained model), so modules never
depend on each other's order. Inside a module the tests share the server and run top to bottom.

Every test gets a fresh browser context (a new Streamlit session). Step screenshots go to
artifacts/e2e/<test name>/ as the test takes them; on failure the harness adds a screenshot of the
page as it was and the browser console's errors.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
from helpers import sweep_processes_for
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from resnet_mnist import RunStore
from resnet_mnist.core.files import FileRefused
from resnet_mnist.jobs.sweep_runner import SweepRunner
from resnet_mnist.sweeps.outcome import SweepState
from resnet_mnist.sweeps.status import LOG_FILE, REQUEST_FILE, read_status, sweep_folders

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "e2e"
SERVER_START_TIMEOUT_S = 60.0
VIEWPORT = {"width": 1400, "height": 1000}
MAX_SCREENSHOT_HEIGHT = 3000
# Generous: the first run of a page imports torch, and widgets' code loads lazily; a busy CI box is slow.
EXPECT_TIMEOUT_MS = 60 * 1000  # a minute
SweepWatch = Literal["ignore", "alive", "running"]  # what a wait watches of the newest sweep
_POLL_SLICE_MS = 5_000  # a long wait is cut into slices; between two, the harness checks the server lives
_LOG_TAIL_LINES = 40
_IDLE_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app && app.dataset.testConnectionState === "CONNECTED"
        && app.dataset.testScriptState === "notRunning"
        && document.querySelector('[data-testid="stMain"] [data-testid="stElementContainer"]');
}"""
_BENIGN_PROBE = re.compile(r"^HTTP 404 http://[^/]+/[^/_][^/]*/_stcore/(health|host-config)$")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class StreamlitServer:
    """A running `streamlit run app.py` subprocess and where it listens."""

    url: str
    runs_dir: Path
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        """What the server printed so far (stdout and stderr together)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def check_still_possible(self, *, sweep: SweepWatch = "ignore") -> None:
        """Fail at once, saying why, when what a test is waiting for can no longer come.

        This server's process exited (its exit code and its log's last lines); with `sweep="alive"`, the
        newest sweep failed or its process is gone (its error and the last lines of its sweep.log, where
        Ray's messages go); with `sweep="running"`, also a sweep that ended as finished or stopped. Call it
        inside waiting loops.
        """
        code = self.process.poll()
        if code is not None:
            log = _tail(self.log())
            pytest.fail(
                f"the app server exited with code {code} while the test waited; its log's last lines:\n{log}",
                pytrace=False,
            )
        for folder in sweep_folders(self.runs_dir)[:1] if sweep != "ignore" else []:
            problem = _sweep_problem(folder, must_run=sweep == "running")
            if problem is not None:
                pytest.fail(
                    f"sweep {folder.name}: {problem}; its {LOG_FILE}'s last lines:\n{_file_tail(folder / LOG_FILE)}",
                    pytrace=False,
                )

    def wait_until(
        self, condition: Callable[[], bool], timeout_s: float, *, sweep: SweepWatch = "ignore", poll_s: float = 1.0
    ) -> bool:
        """Poll `condition` until it holds (True) or `timeout_s` passes (False), failing at once through
        `check_still_possible` when it never can. The test's own assertion follows and says what is missing."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if condition():
                    return True
            except PlaywrightError:
                pass  # e.g. two matches while a rerun swaps elements: not there yet
            self.check_still_possible(sweep=sweep)
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll_s)


class App:
    """The app as one browser tab sees it: open a page, wait for Streamlit, read what it shows."""

    def __init__(self, page, server: StreamlitServer) -> None:
        self.page = page
        self.server = server

    def open(self, path: str = "") -> None:
        """Load a page by its URL path ("" is the home page) and wait until its script has run."""
        try:
            self.page.goto(f"{self.server.url}/{path}")
        except PlaywrightError:
            self.server.check_still_possible()  # a server that exited says so, not "connection refused"
            raise
        self.wait_until_idle()

    def wait_until_idle(self, timeout_ms: float = 120_000) -> None:
        """Wait for the websocket to connect and the page's script run to end; fail at once if the server exits.

        The frontend loads each widget's code lazily, so a widget may show up a moment after the
        run ended: look for it with `expect(...)`, which waits.
        Not a barrier after a click or a typed value: the frontend sends that rerun without marking the
        page as running, so this may return before the rerun begins. After an action, wait for something
        only the new run draws.
        """
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            slice_ms = max(1.0, min(_POLL_SLICE_MS, (deadline - time.monotonic()) * 1000))
            try:
                self.page.wait_for_function(_IDLE_JS, timeout=slice_ms)
                return
            except PlaywrightTimeoutError:
                self.server.check_still_possible()
                if time.monotonic() >= deadline:
                    raise

    def button(self, label: str):
        """The button whose visible label ends with `label` (an icon's ligature name may precede it)."""
        return self.page.get_by_role("button", name=re.compile(rf"(^|\s){re.escape(label)}$"))

    def console_errors(self) -> list[str]:
        """The browser console's errors, less the frontend's known harmless probes.

        Opened at a page's own URL (/train), the frontend first looks for the server under that
        path (/train/_stcore/health, …), gets 404 and then finds it at the root.
        """
        return [
            line
            for line in self.page.console_errors
            if not _BENIGN_PROBE.search(line) and not line.startswith("Failed to load resource")
        ]

    def element(self, key: str):
        """The current (not stale) element that a widget or chart with `key=` renders."""
        return self.page.locator(f'.st-key-{key}:not([data-stale="true"])')

    def exception_texts(self) -> list[str]:
        """The text of every Streamlit exception box on the page (an uncaught error in a script)."""
        return self.page.locator('[data-testid="stException"]').all_inner_texts()

    def plot_points(self, element_key: str, trace_prefix: str = "") -> int | None:
        """How many points the plotly chart of the element with `key=element_key` draws now.

        Counts the traces whose name starts with `trace_prefix` (all by default). Reads the figure
        from the DOM, where plotly keeps it on the .js-plotly-plot node as `.data`; None while
        the chart is not on the page. During a rerun Streamlit keeps the last run's element,
        marked data-stale="true", beside the new one: only the current one counts.
        """
        return self.page.evaluate(
            """([key, prefix]) => {
                const plot = document.querySelector(`.st-key-${key}:not([data-stale="true"]) .js-plotly-plot`);
                if (!plot || !plot.data) return null;
                return plot.data
                    .filter((trace) => (trace.name || "").startsWith(prefix))
                    .reduce((n, trace) => n + (trace.x ? trace.x.length : 0), 0);
            }""",
            [element_key, trace_prefix],
        )


@dataclass
class StepRecorder:
    """Saves numbered step screenshots of one test under artifacts/e2e/<test>/."""

    page: object
    folder: Path
    console_errors: list[str] = field(default_factory=list)
    count: int = 0

    def __call__(self, name: str, *, whole_page: bool = True) -> Path:
        """Save `NN_name.png`; `whole_page` makes the window as tall as the page for the shot.

        Streamlit scrolls inside its main container, not the document, so Playwright's full_page
        alone would stop at the window's bottom edge.
        """
        self.count += 1
        path = self.folder / f"{self.count:02d}_{name}.png"
        height = VIEWPORT["height"]
        if whole_page:
            height = self.page.evaluate(
                """() => Math.max(...['stMain', 'stAppViewContainer'].map(
                    (id) => document.querySelector(`[data-testid="${id}"]`)?.scrollHeight || 0))"""
            )
            height = min(max(height, VIEWPORT["height"]), MAX_SCREENSHOT_HEIGHT)
        if height > VIEWPORT["height"]:
            self.page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
            self.page.wait_for_timeout(300)  # let the layout (and plotly's resize) settle
        try:
            self.page.screenshot(path=str(path))
        finally:
            if height > VIEWPORT["height"]:
                self.page.set_viewport_size(VIEWPORT)
        return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _health_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200 and response.read().decode().strip() == "ok"
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _tail(text: str, lines: int = _LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _file_tail(path: Path, size: int = 16_384) -> str:
    """The last lines of a log file, read from its last `size` bytes only."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - size))
            return _tail(handle.read().decode(errors="replace"))
    except OSError as error:
        return f"(no log: {error})"


def _sweep_process_alive(folder: Path, pid: int | None) -> bool:
    """Whether this sweep's `resnet_mnist.sweeps.process` still runs: the pid its status names, else one whose
    command line names the folder (a standby's folder renamed to its sweep's name is not on that line).

    A process that died but is not yet reaped reads an empty command line, so it counts as gone.
    """
    if pid is not None:
        try:
            return b"resnet_mnist.sweeps.process" in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
    return bool(sweep_processes_for(folder))


def _sweep_problem(folder: Path, *, must_run: bool) -> str | None:
    """Why this sweep can no longer give what a test waits for, or None while it still can."""
    try:
        status = read_status(folder)
    except FileRefused as error:
        return f"its status.json cannot be read ({error})"
    if status is None and not (folder / REQUEST_FILE).exists():
        # No sweep yet (as the runner itself reads it): a standby starting, waiting or leaving (Start takes
        # it, or ends it and makes a sweep of its own), or a folder listed a moment before it went. The
        # next look decides. Run 25 failed here on a standby's folder seen without even its sweep.log.
        return None
    alive = _sweep_process_alive(folder, status.pid if status is not None else None)
    if status is not None and status.state is SweepState.FAILED:
        return f"it failed: {status.error or 'no reason given'}"
    if status is not None and status.state.is_final:
        return f"it ended as {status.state.value} before the test saw what it waited for" if must_run else None
    if alive:
        return None
    try:  # the process is started right after request.json is written: give it a moment to appear
        just_started = time.time() - (folder / REQUEST_FILE).stat().st_mtime < 10
    except OSError:
        just_started = False
    if status is None and just_started:
        return None
    return f"its process is gone without writing an end (last state: {status.state.value if status else 'none'})"


# `streamlit run`, as `python -m streamlit` starts it, plus: SIGUSR1 writes every thread's stack to the
# server's log. A test that fails asks for it, so a page found stuck says where the server was.
_STREAMLIT_WITH_STACK_DUMPS = (
    "import faulthandler, signal; faulthandler.register(signal.SIGUSR1, all_threads=True); "
    "from streamlit.web.cli import main; main(prog_name='streamlit')"
)


def dump_server_stacks(server: StreamlitServer) -> None:
    """Have the running server write all its threads' stacks into its log (see _STREAMLIT_WITH_STACK_DUMPS)."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGUSR1)
        time.sleep(1.0)  # faulthandler writes from its own handler; give it a moment


def start_streamlit(
    runs_dir: Path, data_root: Path, log_path: Path, extra_env: dict[str, str] | None = None
) -> StreamlitServer:
    """Start the app on a free localhost port and wait (bounded) until its health check says ok."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, RESNET_MNIST_DATA=str(data_root), RESNET_MNIST_RUNS=str(runs_dir), **(extra_env or {}))
    command = [
        sys.executable, "-c", _STREAMLIT_WITH_STACK_DUMPS, "run", "app.py",
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    log_file = log_path.open("wb")
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    log_file.close()  # the child holds its own handle
    server = StreamlitServer(url=url, runs_dir=runs_dir, process=process, log_path=log_path)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"streamlit exited with code {process.returncode} before answering:\n{server.log()}")
        if _health_ok(url):
            return server
        time.sleep(0.25)
    stop_streamlit(server)
    pytest.fail(f"streamlit did not answer {url}/_stcore/health within {SERVER_START_TIMEOUT_S:.0f} s:\n{server.log()}")


def stop_streamlit(server: StreamlitServer) -> None:
    """Terminate the server we started (by its pid) and wait for it; kill it if it lingers."""
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=15)


@pytest.fixture(scope="module")
def runs_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's runs folder: empty by default; a module overrides this fixture to seed it."""
    path = tmp_path_factory.mktemp("e2e_runs") / "runs"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    """More environment for the module's server (a module overrides this, e.g. for its handwriting folder)."""
    return {}


@pytest.fixture(scope="module")
def streamlit_server(
    runs_folder: Path, data_root: Path, server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StreamlitServer]:
    """One app server per test module, stopped when the module's tests are done."""
    log_path = tmp_path_factory.mktemp("e2e_server") / "streamlit.log"
    server = start_streamlit(runs_folder, data_root, log_path, server_env)
    try:
        yield server
    finally:
        stop_streamlit(server)
        # A sweep runs in a process of its own that outlives its server: stop one a failed test left behind.
        SweepRunner(RunStore(runs_folder)).stop(timeout=120)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's headless Chromium driven by Playwright (no browser download is possible here)."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium not found on PATH: the e2e tests need it; install it with `apt-get install -y chromium`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Keep each phase's report on the item so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh browser tab (its own Streamlit session) that records console errors."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []

    def on_console(message) -> None:
        if message.type == "error":
            errors.append(message.text)

    def on_response(response) -> None:
        if response.status >= 400:  # the console says only "Failed to load resource": keep which one
            errors.append(f"HTTP {response.status} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    page.on("response", on_response)
    page.console_errors = errors  # the tests may assert on them
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            folder = _artifact_folder(request.node)
            try:
                page.screenshot(path=str(folder / "failure.png"))
            except Exception as error:  # the page may be gone; the console log still helps
                (folder / "failure_screenshot_error.txt").write_text(str(error))
            (folder / "console_errors.log").write_text("\n".join(errors) + "\n")
            server = request.node.funcargs.get("streamlit_server")
            if server is not None:
                dump_server_stacks(server)
                (folder / "streamlit.log").write_text(server.log())
        context.close()


def _artifact_folder(node: pytest.Item) -> Path:
    folder = ARTIFACTS / node.name.replace("/", "_").replace("[", "_").replace("]", "")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def app(page, streamlit_server: StreamlitServer) -> App:
    """This test's browser tab on the module's app server."""
    return App(page, streamlit_server)


@pytest.fixture
def shot(page, request: pytest.FixtureRequest) -> StepRecorder:
    """`shot("name")` saves a numbered full-page screenshot of this step under artifacts/e2e/<test>/."""
    folder = _artifact_folder(request.node)
    for old in folder.iterdir():  # screenshots of an earlier run of this test would mislead
        if old.is_file():
            old.unlink()
    return StepRecorder(page=page, folder=folder, console_errors=page.console_errors)
