"""A handwriting folder as a zip: exported whole, imported only once all of the zip has been checked.

An import checks in order of cost, so a bad or oversized zip is refused before the costly part: the
zip's directory (entry count, declared sizes, names), then labels.csv (its rows, and whether the
folder has room for them), then each listed image's header (its pixels, and the zip's total), and only
then decodes every image. It unpacks into a staging folder (`.import-*`) inside the handwriting folder
and adds the digits only after all of them passed, so a bad zip adds nothing. The staging folder is
locked while its import lives (an `fcntl.flock`, which dies with the process): the next import, or the
My digits page, removes one whose import was killed. `progress` reports each step and can stop it.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from resnet_mnist.handwriting.decoding import load_digits
from resnet_mnist.handwriting.digits import (
    INPUTS_DIR,
    LABELS_FILE,
    MAX_DIGITS,
    MAX_IMAGE_BYTES,
    MAX_LABELS_BYTES,
    MAX_SET_BYTES,
    MAX_SET_PIXELS,
    HandwritingError,
    HandwritingSet,
    add_digits,
    check_room,
    image_size,
    parse_labels,
    read_set,
    safe_relative,
    saved_input,
)

__all__ = [
    "MAX_ZIP_ENTRIES",
    "STAGING_PREFIX",
    "ImportCancelled",
    "Progress",
    "clean_stale_imports",
    "export_zip",
    "import_zip",
]

MAX_ZIP_ENTRIES = 2 * MAX_DIGITS + 8  # each digit's image and its 28×28 input, labels.csv, folders
STAGING_PREFIX = ".import-"
_STAGING_LOCK = ".importing"  # held by the importing process for as long as its staging folder is in use
_JUST_MADE_SECONDS = 5.0  # a staging folder this young without its lock file is still being set up
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

# (step, done, total): "unpacking" and "decoding" count the zip's rows, "adding" comes once at the end.
# Whatever it raises stops the import, with nothing added (before "adding").
Progress = Callable[[str, int, int], None]


class ImportCancelled(HandwritingError):
    """The import was stopped before anything was added."""


def export_zip(root: str | os.PathLike[str]) -> bytes:
    """The folder as a zip: labels.csv, every listed image, and the saved 28×28 inputs."""
    hset = read_set(root)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(hset.root / LABELS_FILE, LABELS_FILE)
        for digit in hset.digits:
            archive.write(hset.path(digit), digit.file)
            kept_input = saved_input(hset.root, digit.file)
            if kept_input is not None:
                archive.write(kept_input, f"{INPUTS_DIR}/{digit.file}")
    return buffer.getvalue()


# -- staging folders ---------------------------------------------------------------------------------


def _lock(folder: Path) -> int | None:
    """The staging folder's lock, taken (an open file descriptor), or None while another import holds it."""
    try:
        fd = os.open(folder / _STAGING_LOCK, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o644)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def clean_stale_imports(root: str | os.PathLike[str]) -> int:
    """Remove the staging folders of imports that died midway (nobody holds their lock); how many were removed."""
    removed = 0
    try:
        folders = [p for p in Path(root).glob(STAGING_PREFIX + "*") if p.is_dir() and not p.is_symlink()]
    except OSError:
        return 0
    for folder in folders:
        with contextlib.suppress(OSError):
            if not (folder / _STAGING_LOCK).exists() and time.time() - folder.stat().st_mtime < _JUST_MADE_SECONDS:
                continue  # an import that has just made its folder and is about to lock it
            fd = _lock(folder)
            if fd is None:
                continue  # a live import
            try:
                shutil.rmtree(folder)
                removed += 1
            finally:
                os.close(fd)
    return removed


def _new_lock(folder: Path) -> int | None:
    """A new staging folder's lock, put in place already held: made and locked under another name, then
    renamed. Made in place, a cleaner could take it between its creation and its flock and remove the
    folder (seen in CI: "could not lock the staging folder"); a young folder without it is left alone."""
    pending = folder / f"{_STAGING_LOCK}.new"
    try:
        fd = os.open(pending, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(pending, folder / _STAGING_LOCK)
    except OSError:
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def _staging(root: Path) -> Iterator[Path]:
    """A new staging folder inside `root`, locked while the import uses it, removed after."""
    folder = Path(tempfile.mkdtemp(dir=root, prefix=STAGING_PREFIX))
    fd = _new_lock(folder)
    try:
        if fd is None:
            raise HandwritingError(f"could not lock the staging folder {folder.name}; try again")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if fd is not None:
            os.close(fd)


# -- reading a zip -----------------------------------------------------------------------------------


def _checked_entries(archive: zipfile.ZipFile) -> tuple[str, dict[str, zipfile.ZipInfo]]:
    """(prefix, name → entry): the zip's declared sizes and names checked before anything is read."""
    infos = archive.infolist()
    if len(infos) > MAX_ZIP_ENTRIES:
        raise HandwritingError(f"the zip holds {len(infos):,} entries; at most {MAX_ZIP_ENTRIES:,} are read")
    if sum(info.file_size for info in infos) > MAX_SET_BYTES:
        raise HandwritingError(f"the zip unpacks to over {MAX_SET_BYTES // 1_000_000} MB")
    files = {}
    for info in infos:
        if info.is_dir():
            continue
        name = safe_relative(info.filename.rstrip("/"), "the zip")
        if info.flag_bits & 0x1:
            raise HandwritingError(f"the zip's {name} is encrypted")
        if info.file_size > MAX_IMAGE_BYTES:
            raise HandwritingError(f"the zip's {name} unpacks to over {MAX_IMAGE_BYTES // 1_000_000} MB")
        files[name] = info
    candidates = sorted((n for n in files if PurePosixPath(n).name == LABELS_FILE), key=lambda n: n.count("/"))
    if not candidates or candidates[0].count("/") > 1:
        raise HandwritingError(f"the zip holds no {LABELS_FILE} (at its top, or in one folder at its top)")
    prefix = candidates[0][: -len(LABELS_FILE)]
    return prefix, files


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """An entry's bytes, never more than its declared size allows (a lying header is caught)."""
    limit = MAX_LABELS_BYTES if info.filename.endswith(LABELS_FILE) else MAX_IMAGE_BYTES
    with archive.open(info) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit or len(data) != info.file_size:
        raise HandwritingError(f"the zip's {info.filename} is not the size its header says")
    return data


def _unpack(archive: zipfile.ZipFile, staging: Path, room: Callable[[int], None], progress: Progress) -> None:
    """labels.csv, then each image it lists: its header checked (and the total's pixels) before it is written."""
    prefix, files = _checked_entries(archive)
    labels = _read_entry(archive, files[prefix + LABELS_FILE])
    (staging / LABELS_FILE).write_bytes(labels)
    rows = parse_labels(labels.decode("utf-8-sig"), f"the zip's {LABELS_FILE}")
    room(len(rows))  # before any image is unpacked, let alone decoded
    pixels = 0
    for done, (name, _, line) in enumerate(rows, start=1):
        where = f"the zip's {LABELS_FILE} line {line} ({name[:80]})"
        inner = safe_relative(name, where)
        if prefix + inner in files:  # a listed file that is absent is named by read_set
            image = _read_entry(archive, files[prefix + inner])
            width, height = image_size(image, where)
            pixels += width * height
            if pixels > MAX_SET_PIXELS:
                raise HandwritingError(
                    f"{where}: the images add up to over {MAX_SET_PIXELS // 1_000_000:,} megapixels, more "
                    f"than can be decoded in a few minutes"
                )
            target = staging / inner
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(image)
        progress("unpacking", done, len(rows))


def _stage_zip(data: bytes, staging: Path, room: Callable[[int], None], progress: Progress) -> HandwritingSet:
    """Unpack only labels.csv and the images it lists into `staging`, then read and decode them there."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        raise HandwritingError("the file is not a readable zip") from None
    with archive:
        try:
            _unpack(archive, staging, room, progress)
        except (zipfile.BadZipFile, OSError, UnicodeDecodeError, EOFError) as exc:
            raise HandwritingError(f"the zip is damaged ({type(exc).__name__})") from None
    staged = read_set(staging)
    # Every image must decode and hold a digit before anything is added.
    load_digits(staged, progress=lambda done, total: progress("decoding", done, total))
    return staged


def _quiet(step: str, done: int, total: int) -> None:
    """No one is watching the import."""


def import_zip(root: str | os.PathLike[str], data: bytes, *, progress: Progress = _quiet) -> int:
    """Add the digits of a zipped handwriting folder to this one; returns how many were added.

    The zip is checked whole first (module docstring); only then are its images copied in under new
    names and labels.csv rewritten, so a bad or cancelled zip adds nothing.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    clean_stale_imports(root)

    def room(adding: int) -> None:
        check_room(read_set(root, allow_missing=True), adding)

    with _staging(root) as staging:
        staged = _stage_zip(data, staging, room, progress)
        progress("adding", 0, len(staged))
        return add_digits(root, staged)
