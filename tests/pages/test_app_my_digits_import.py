"""My digits imports a zip in the background: progress while it runs, Cancel with nothing added, the result said
once it ends; and a staging folder left by a killed import is removed when the page opens (issue 27).

Real MNIST test digits, restyled as a person's pen and paper differ, and the real handwriting folder on disk.
"""

from __future__ import annotations

import io
import os
import secrets
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from helpers import open_app_page
from streamlit.testing.v1 import AppTest
from torchvision.datasets import MNIST

from resnet_mnist.handwriting.archive import STAGING_PREFIX
from resnet_mnist.handwriting.digits import LABELS_FILE, read_set
from testdata.styled_handwriting import make_styled_folder


@pytest.fixture
def hw_dir() -> Path:
    return Path(os.environ["RESNET_MNIST_HANDWRITING"])  # this test's own folder (conftest)


@pytest.fixture(autouse=True)
def _fresh_resources() -> Iterator[None]:
    yield
    st.cache_resource.clear()


@pytest.fixture(scope="module")
def digit_zip(data_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """`make(count)`: a zipped folder of `count` copies of one restyled MNIST test digit (a 7), each file distinct."""
    test = MNIST(str(data_root), train=False)
    folder = make_styled_folder(tmp_path_factory.mktemp("zip") / "hw", test.data[:1].numpy(), test.targets[:1].numpy())
    image = (folder / "page-0000.png").read_bytes()

    def make(count: int) -> bytes:
        buffer = io.BytesIO()
        batch = secrets.token_hex(8)  # new bytes each call: never images an earlier test already decoded
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(LABELS_FILE, "file,label\n" + "".join(f"d{i:04}.png,7\n" for i in range(count)))
            for i in range(count):  # each file its own bytes (a tag after the PNG's end), as a real set's are:
                archive.writestr(f"d{i:04}.png", image + f"{batch} {i}".encode())  # decoded once per content
        return buffer.getvalue()

    return make


def _start_import(data: bytes) -> AppTest:
    at = open_app_page("pages/my_digits.py")
    at.file_uploader(key="my_digits_zip").set_value(("mine.zip", data, "application/zip")).run()
    at.button(key="my_digits_import").click().run()
    assert not at.exception, at.exception
    return at


def _rerun_until(at: AppTest, condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition(at):
        assert time.monotonic() < deadline, [e.value for e in at.main]
        time.sleep(0.2)
        at.run()
        assert not at.exception, at.exception


def test_an_import_shows_its_progress_then_what_it_added(hw_dir: Path, digit_zip) -> None:
    at = _start_import(digit_zip(300))  # seconds of decoding
    assert at.button(key="my_digits_import_cancel")  # while it runs: a Cancel, and no second upload
    assert not [u for u in at.get("file_uploader") if u.key == "my_digits_zip"]
    _rerun_until(at, lambda at: any("Added 300 digits." in s.value for s in at.success))
    assert len(read_set(hw_dir)) == 300
    assert {m.label: m.value for m in at.metric if m.label.startswith("Digit ")}["Digit 7"] == "300"
    at.run()
    assert not any("Added" in s.value for s in at.success)  # said once


def test_cancel_stops_an_import_and_adds_nothing(hw_dir: Path, digit_zip) -> None:
    at = _start_import(digit_zip(3000))  # minutes of decoding
    at.button(key="my_digits_import_cancel").click().run()
    _rerun_until(at, lambda at: any("Import cancelled: nothing was added." in i.value for i in at.info), timeout=30)
    assert len(read_set(hw_dir, allow_missing=True)) == 0
    assert not list(hw_dir.glob(STAGING_PREFIX + "*"))


def test_opening_my_digits_removes_a_killed_imports_staging_folder(hw_dir: Path) -> None:
    left_behind = hw_dir / f"{STAGING_PREFIX}killed"
    left_behind.mkdir(parents=True)
    (left_behind / ".importing").write_text("")  # its lock file; the process that held it is gone
    (left_behind / "a.png").write_bytes(b"\0" * 1000)
    (left_behind / "labels.csv").write_text("file,label\na.png,1\n")
    os.utime(left_behind, (time.time() - 60, time.time() - 60))
    open_app_page("pages/my_digits.py")
    assert not left_behind.exists()
