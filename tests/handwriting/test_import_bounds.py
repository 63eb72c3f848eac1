"""Zip import's work is bounded before it is done (issue 27): the folder's room and the images' pixels are checked
from labels.csv and the image headers before a single image is decoded; an import runs in the background with
progress and can be cancelled with nothing added; a killed import's staging folder is removed the next time.

Images are real MNIST test digits restyled as a person's pen and paper differ (testdata/styled_handwriting.py).
"""

from __future__ import annotations

import io
import secrets
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from torchvision.datasets import MNIST

from resnet_mnist.handwriting.archive import STAGING_PREFIX, _staging, clean_stale_imports, import_zip
from resnet_mnist.handwriting.digits import LABELS_FILE, MAX_DIGITS, MAX_SET_PIXELS, HandwritingError, read_set
from resnet_mnist.jobs.zip_import import ImportStatus, ZipImport
from testdata.styled_handwriting import make_styled_folder

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def digit_png(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """One restyled MNIST test digit (a 320×240 picture of dark ink on light paper) as PNG bytes."""
    test = MNIST(str(data_root), train=False)
    root = tmp_path_factory.mktemp("one") / "hw"
    folder = make_styled_folder(root, test.data[-1:].numpy(), test.targets[-1:].numpy())
    return (folder / "page-0000.png").read_bytes()


def _zip_of(image: bytes, count: int, label: int = 7) -> bytes:
    """A zipped handwriting folder of `count` copies of `image` under different names, each file's bytes its own
    (a tag after the PNG's end): images are decoded once per content, and a real set's differ."""
    buffer = io.BytesIO()
    batch = secrets.token_hex(8)  # new bytes each call: never images an earlier test already decoded
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(LABELS_FILE, "file,label\n" + "".join(f"d{i:05}.png,{label}\n" for i in range(count)))
        for i in range(count):
            archive.writestr(f"d{i:05}.png", image + f"{batch} {i}".encode())  # distinct files: each is decoded
    return buffer.getvalue()


class Steps:
    """The import's progress reports, as they came."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, int]] = []

    def __call__(self, step: str, done: int, total: int) -> None:
        self.seen.append((step, done, total))

    def named(self) -> set[str]:
        return {step for step, _, _ in self.seen}


def _nothing_added(root: Path) -> None:
    assert (root / LABELS_FILE).read_text() == "file,label\n"
    assert sorted(p.name for p in root.iterdir()) == [LABELS_FILE]  # no image, no staging folder


@pytest.fixture
def empty_folder(tmp_path: Path) -> Path:
    root = tmp_path / "hw"
    root.mkdir()
    (root / LABELS_FILE).write_text("file,label\n")
    return root


def test_the_zips_pixels_are_bounded_from_the_headers_before_any_decoding(empty_folder: Path) -> None:
    """120 pictures of 4096×4096 (each allowed alone, 2,013 megapixels together) in a 1 MB zip."""
    buffer = io.BytesIO()
    Image.new("L", (4096, 4096), 255).save(buffer, format="PNG")  # 25 kB on disk, 16.8 megapixels
    count = MAX_SET_PIXELS // (4096 * 4096) + 1
    steps = Steps()
    started = time.perf_counter()
    with pytest.raises(HandwritingError, match=r"line 121 \(d00119\.png\): the images add up to over 2,000 mega"):
        import_zip(empty_folder, _zip_of(buffer.getvalue(), count), progress=steps)
    assert "decoding" not in steps.named() and time.perf_counter() - started < 30  # decoding them: minutes
    _nothing_added(empty_folder)


def test_a_zip_the_folder_has_no_room_for_is_refused_before_any_image_is_read(tmp_path: Path, digit_png: bytes) -> None:
    root = tmp_path / "full"
    root.mkdir()
    rows = [f"old{i:05}.png,1\n" for i in range(MAX_DIGITS - 5)]
    for i in range(MAX_DIGITS - 5):
        (root / f"old{i:05}.png").write_bytes(b"")  # never decoded: the count alone decides
    (root / LABELS_FILE).write_text("file,label\n" + "".join(rows))
    labels_before = (root / LABELS_FILE).read_text()
    steps = Steps()
    with pytest.raises(HandwritingError, match=r"over 10,000 digits \(9,995 now, 6 to add\)"):
        import_zip(root, _zip_of(b"not even an image", 6), progress=steps)
    assert steps.seen == []  # not one image unpacked, let alone decoded
    assert (root / LABELS_FILE).read_text() == labels_before
    assert not list(root.glob(STAGING_PREFIX + "*"))


def _wait(job: ZipImport, done: callable, timeout: float = 120.0) -> ImportStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job.status()
        if done(status):
            return status
        time.sleep(0.01)
    raise AssertionError(f"the import never got there: {job.status()}")


def test_a_background_import_reports_progress_and_adds_its_digits(empty_folder: Path, digit_png: bytes) -> None:
    job = ZipImport(empty_folder, _zip_of(digit_png, 200))  # a few seconds of decoding
    seen = {_wait(job, lambda s: s.step == "decoding" or s.finished).step}
    final = _wait(job, lambda s: s.finished)
    seen.add(final.step)
    assert final == ImportStatus("added", 200, 200, finished=True, added=200)
    assert seen == {"decoding", "added"}
    assert [d.label for d in read_set(empty_folder).digits] == [7] * 200
    assert not list(empty_folder.glob(STAGING_PREFIX + "*"))


def test_cancel_stops_a_background_import_with_nothing_added_and_a_live_one_keeps_its_folder(
    empty_folder: Path, digit_png: bytes
) -> None:
    job = ZipImport(empty_folder, _zip_of(digit_png, 2000))  # minutes of decoding
    running = _wait(job, lambda s: s.step == "decoding")
    assert 0 < running.total == 2000 and not running.finished
    [staging] = empty_folder.glob(STAGING_PREFIX + "*")
    assert clean_stale_imports(empty_folder) == 0 and staging.is_dir()  # its import is alive: its folder stays
    job.cancel()
    final = _wait(job, lambda s: s.finished, timeout=10.0)  # at the next image
    assert final.cancelled and final.error is None and final.added == 0
    _nothing_added(empty_folder)


def test_a_cleaner_beside_new_imports_never_takes_their_folders(empty_folder: Path) -> None:
    # The My digits page cleans on every rerun while an import's thread sets up its staging folder. The lock file
    # was made, then locked: a cleaner in between took it and removed the folder ("could not lock the staging
    # folder", one CI run). 5,000 set-ups beside a cleaner in a loop: 219 failed before the fix.
    stop = threading.Event()

    def clean() -> None:
        while not stop.is_set():
            clean_stale_imports(empty_folder)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads trade the interpreter often, so the window shows within seconds
    cleaner = threading.Thread(target=clean, daemon=True)
    cleaner.start()
    refused = 0
    try:
        for _ in range(5000):
            try:
                with _staging(empty_folder):  # the private step under test: import_zip's first
                    pass
            except HandwritingError:
                refused += 1
    finally:
        stop.set()
        cleaner.join(timeout=10)
        sys.setswitchinterval(switch)
    assert refused == 0, f"{refused} of 5,000 new staging folders were taken by the cleaner"


KILLED_MIDWAY = """
import os, signal, sys
from pathlib import Path
from resnet_mnist.handwriting.archive import import_zip

def die_when_decoding(step, done, total):
    if step == "decoding" and done == 3:
        os.kill(os.getpid(), signal.SIGKILL)

import_zip(sys.argv[1], Path(sys.argv[2]).read_bytes(), progress=die_when_decoding)
"""


def test_a_killed_imports_staging_folder_is_removed_by_the_next_import(
    empty_folder: Path, digit_png: bytes, tmp_path: Path
) -> None:
    (tmp_path / "big.zip").write_bytes(_zip_of(digit_png, 30))
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_MIDWAY, str(empty_folder), str(tmp_path / "big.zip")],
        cwd=REPO,
        capture_output=True,
        timeout=240,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    [left_behind] = empty_folder.glob(STAGING_PREFIX + "*")
    assert len(list(left_behind.glob("*.png"))) == 30  # what `kill -9` left: every image unpacked
    assert import_zip(empty_folder, _zip_of(digit_png, 2)) == 2
    assert not left_behind.exists()
    assert len(read_set(empty_folder)) == 2
