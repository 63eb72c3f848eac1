"""The server's exposure: loopback only, XSRF on, and no full garbage collection after each run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import (
    REPO,
)


def test_the_server_config_listens_on_localhost_with_xsrf_protection() -> None:
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost"
    assert config["server"]["enableXsrfProtection"] is True
    assert config["server"].get("enableCORS", True) is True
    assert config["server"]["maxUploadSize"] <= 20


def test_the_server_skips_streamlits_full_garbage_collection_after_each_run(monkeypatch) -> None:
    """A gc.collect(2) after every fragment tick held the GIL ~0.4 s a second while a job trained."""
    from streamlit import config

    monkeypatch.chdir(REPO)  # where `streamlit run app.py` reads .streamlit/config.toml from
    monkeypatch.delenv("STREAMLIT_RUNNER_POST_SCRIPT_GC", raising=False)
    config.get_config_options(force_reparse=True)
    try:
        assert config.get_option("runner.postScriptGC") is False
    finally:
        monkeypatch.undo()
        config.get_config_options(force_reparse=True)


def _listening_addresses(port: int) -> list[str]:
    """Local addresses of the sockets listening on `port`, read from the kernel's tables."""
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                # The kernel prints each 32-bit word in host (little-endian) order.
                ordered = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.append(socket.inet_ntop(socket.AF_INET if width == 8 else socket.AF_INET6, ordered))
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`streamlit run app.py` as a person starts it: no --server.address. Yields its port."""
    port = _free_port()
    folder = tmp_path_factory.mktemp("server")
    env = {**os.environ, "RESNET_MNIST_RUNS": str(folder / "runs"), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
    command += ["--server.fileWatcherType", "none"]
    with open(folder / "server.log", "wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (OSError, urllib.error.URLError):
                pass
            assert process.poll() is None, (folder / "server.log").read_text()
            assert time.monotonic() < deadline, "the server did not answer within 90 s"
            time.sleep(0.3)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def test_the_app_listens_on_the_loopback_address_only(default_server: int) -> None:
    addresses = _listening_addresses(default_server)
    assert addresses, f"nothing listens on port {default_server}"
    assert all(a in ("127.0.0.1", "::1") for a in addresses), f"listening on {addresses}"
    assert "0.0.0.0" not in addresses and "::" not in addresses


def test_xsrf_protection_refuses_an_upload_without_the_token(default_server: int) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{default_server}/_stcore/upload_file/some-session/some-file",
        data=b"--x\r\n",
        method="PUT",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert "xsrf" in refused.value.read().decode(errors="replace").lower()
