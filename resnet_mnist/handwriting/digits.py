"""The user's own digits: a plain folder of images plus labels.csv (`file,label`), read and written safely.

Any folder in that format works (the Draw page's saved drawings, or photos from a phone): every
image goes through the same preprocessing as the canvas. Everything read from the folder or from
an imported zip is validated here, once; a bad row gets one message naming the file and its line.
Writes go to temporary files that are renamed into place, labels.csv last, so a failure never
leaves a half-saved set. Zip import and export build on this (archive.py).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import secrets
import threading
import time
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path, PurePosixPath

import numpy as np

from resnet_mnist.core.data import MnistSplit
from resnet_mnist.core.files import atomic_write_bytes
from resnet_mnist.predict.preprocess import image_array, ink_from_image

__all__ = [
    "HANDWRITING_ENV_VAR",
    "INPUTS_DIR",
    "LABELS_FILE",
    "MAX_DIGITS",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_SET_PIXELS",
    "HandwritingData",
    "HandwritingError",
    "HandwritingSet",
    "HandwrittenDigit",
    "add_digits",
    "check_room",
    "decode_image",
    "delete_digit",
    "image_size",
    "parse_labels",
    "read_set",
    "relabel_digit",
    "resolve_handwriting_dir",
    "safe_relative",
    "save_drawing",
    "saved_input",
]

HANDWRITING_ENV_VAR = "RESNET_MNIST_HANDWRITING"
LABELS_FILE = "labels.csv"
INPUTS_DIR = "inputs"  # the 28×28 input the model saw, kept beside each saved drawing (not read back)
HEADER = ("file", "label")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
MAX_DIGITS = 10_000
MAX_LABELS_BYTES = 1_000_000  # 10,000 rows of a long file name fit well inside
MAX_IMAGE_BYTES = 10_000_000
MAX_IMAGE_PIXELS = 4096 * 4096  # a 12-megapixel phone photo fits; decompression bombs do not
MAX_SET_BYTES = 300_000_000
# Decoding runs at about 25 megapixels a second here: 10,000 canvas drawings (784 MP) and a hundred phone photos
# fit in about a minute and a half; 10,000 pictures of 4096×4096 (168,000 MP, hours) do not.
MAX_SET_PIXELS = 2_000_000_000
MAX_NAME_CHARS = 1024

_write_lock = threading.Lock()  # one read-modify-write of labels.csv at a time in this process


class HandwritingError(ValueError):
    """The folder, one of its rows or an imported zip cannot be used; the message says which and why."""


@dataclass(frozen=True)
class HandwrittenDigit:
    """One row of labels.csv: the image's path inside the folder, its true digit, its line, its bytes' hash."""

    file: str
    label: int
    line: int
    sha256: str = ""  # of the image file: tells a digit apart from others whatever its name or folder

    @property
    def where(self) -> str:
        return f"{LABELS_FILE} line {self.line} ({self.file})"


@dataclass(frozen=True)
class HandwritingSet:
    """A validated folder: its digits in labels.csv order and a hash of labels.csv and every image."""

    root: Path
    digits: tuple[HandwrittenDigit, ...]
    fingerprint: str

    def __len__(self) -> int:
        return len(self.digits)

    def counts(self) -> list[int]:
        """How many digits of each class 0..9."""
        counts = [0] * 10
        for digit in self.digits:
            counts[digit.label] += 1
        return counts

    def path(self, digit: HandwrittenDigit) -> Path:
        return self.root / digit.file


@dataclass(frozen=True)
class HandwritingData:
    """The set as the model sees it: like an MNIST split, plus the 28×28 ink for showing each digit."""

    split: MnistSplit  # images (N, 1, 28, 28) normalised, labels (N,)
    pixels: np.ndarray  # (N, 28, 28) float32 0..1


def resolve_handwriting_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The handwriting folder: the argument, else $RESNET_MNIST_HANDWRITING, else ./handwriting."""
    if path is not None and str(path) != "":
        return Path(path).expanduser()
    env = os.environ.get(HANDWRITING_ENV_VAR)
    return Path(env).expanduser() if env else Path("handwriting")


# -- reading -------------------------------------------------------------------------------------


def safe_relative(name: str, where: str) -> str:
    """A file name from labels.csv or a zip as a clean relative POSIX path, or HandwritingError."""
    if not name or "\\" in name or "\x00" in name or ":" in name:
        raise HandwritingError(f"{where}: {name!r} is not a usable file name")
    path = PurePosixPath(name)
    if len(name) > MAX_NAME_CHARS or any(len(part.encode()) > 255 for part in path.parts):
        raise HandwritingError(f"{where}: the file name is longer than a file system allows")
    if path.is_absolute() or any(part in ("..", "") for part in path.parts) or name.startswith("./"):
        raise HandwritingError(f"{where}: {name!r} points outside the folder")
    return str(path)


def parse_labels(text: str, source: str) -> list[tuple[str, str, int]]:
    """(file, label text, line) for each data row; the header must be `file,label`."""
    reader = csv.reader(io.StringIO(text, newline=""))  # any line ending: \n, \r\n, or \r alone (Excel's Mac CSV)
    try:
        rows = list(reader)
    except csv.Error as exc:  # a field over csv's 131,072-character limit, say: no file name is that long
        raise HandwritingError(f"{source} line {reader.line_num}: not readable as CSV ({exc})") from None
    if not rows or tuple(cell.strip().lower() for cell in rows[0]) != HEADER:
        found = ",".join(rows[0]) if rows else "nothing"
        raise HandwritingError(f"{source} must start with the header 'file,label' (found {found[:80]!r})")
    parsed = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row):
            continue  # blank lines are harmless
        if len(row) != 2:
            raise HandwritingError(f"{source} line {line}: expected 2 fields (file,label), found {len(row)}")
        parsed.append((row[0].strip(), row[1].strip(), line))
    if len(parsed) > MAX_DIGITS:
        raise HandwritingError(f"{source} lists {len(parsed):,} digits; at most {MAX_DIGITS:,} are read")
    return parsed


def _read_labels_text(root: Path) -> str:
    labels = root / LABELS_FILE
    if not root.is_dir():
        raise HandwritingError(f"there is no handwriting folder at {root}")
    if not labels.is_file():
        raise HandwritingError(
            f"{root} has no {LABELS_FILE}: a handwriting folder holds images plus {LABELS_FILE} "
            f"with the header 'file,label' (save a drawing on the Draw page to start one)"
        )
    if labels.stat().st_size > MAX_LABELS_BYTES:
        raise HandwritingError(f"{labels} is over {MAX_LABELS_BYTES // 1_000_000} MB; it cannot be a list of digits")
    try:
        return labels.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HandwritingError(f"{labels} is not UTF-8 text (byte {exc.start})") from None


def _check_row(root: Path, name: str, label_text: str, line: int) -> HandwrittenDigit:
    where = f"{LABELS_FILE} line {line} ({name[:80]})"
    file = safe_relative(name, where)
    if label_text not in tuple("0123456789"):
        raise HandwritingError(f"{where}: the label {label_text[:20]!r} is not a digit 0-9")
    if not file.lower().endswith(IMAGE_SUFFIXES):
        raise HandwritingError(f"{where}: not an image file name (expected {', '.join(IMAGE_SUFFIXES)})")
    path = root / file
    if not path.resolve().is_relative_to(root.resolve()):
        raise HandwritingError(f"{where}: the file lies outside the folder (a link?)")
    if not path.is_file():
        raise HandwritingError(f"{where}: the file is missing")
    if path.stat().st_size > MAX_IMAGE_BYTES:
        raise HandwritingError(f"{where}: the image is over {MAX_IMAGE_BYTES // 1_000_000} MB")
    return HandwrittenDigit(file, int(label_text), line)


def _place(real_root: Path, path: Path) -> str:
    """The file a row reaches, the same for every spelling of it: links followed, case and Unicode form folded
    (a Mac or Windows disk takes `A.png` and `a.png` for one file)."""
    return unicodedata.normalize("NFC", path.resolve().relative_to(real_root).as_posix()).casefold()


def _claim_place(digit: HandwrittenDigit, place: str, places: dict[str, HandwrittenDigit]) -> None:
    """Deleting a digit removes its file and its saved input: no two rows may reach one file, nor a row an input."""
    if place.split("/")[0] == INPUTS_DIR:
        raise HandwritingError(
            f"{digit.where}: the file lies in {INPUTS_DIR}/, where the 28×28 input of each saved digit is kept; "
            f"move it out of that folder"
        )
    other = places.setdefault(place, digit)
    if other is not digit:
        if other.file == digit.file:
            raise HandwritingError(f"{digit.where}: the file is listed twice")
        raise HandwritingError(
            f"{digit.where}: the same file as line {other.line} ({other.file[:80]}), through a link or in "
            f"another case; each digit needs a file of its own"
        )


# A read that met a change under it reads the new labels.csv again, for at most this long (read_set says why a
# time, not a count of tries; tests/handwriting/test_concurrent_reads.py is the writer that never pauses).
_READ_RETRY_S = 5.0


def _labels_text_now(root: Path) -> str | None:
    """labels.csv's text as it is now; None when it cannot be read."""
    try:
        return _read_labels_text(root)
    except (HandwritingError, OSError):
        return None


def read_set(root: str | os.PathLike[str], *, allow_missing: bool = False) -> HandwritingSet:
    """The folder's labels.csv checked row by row (names, labels, files present and bounded), hashed.

    With `allow_missing`, a folder without labels.csv (or no folder) is an empty set, as the gallery
    wants; otherwise that, and an empty list, raise HandwritingError. Images are decoded by load_digits.
    A delete rewrites labels.csv, then removes the image: a read in between (a page's rerun in another
    session) met "the file is missing", so when labels.csv changed under a read, the read starts again.
    Changed means other text (not another inode: a rewrite takes the inode the last one freed, 599 times in
    600 here). It starts again for as long as labels.csv keeps changing, up to _READ_RETRY_S: a count of ten
    tries ran out beside a session saving and deleting without pause (CI run 35; 4 test runs in 10 here, none
    with a thousand tries).
    """
    root = Path(root)
    deadline = time.monotonic() + _READ_RETRY_S
    while True:
        text = None
        try:
            if allow_missing and not (root / LABELS_FILE).is_file():
                return HandwritingSet(root, (), hashlib.sha256(b"").hexdigest())
            text = _read_labels_text(root)
            return _set_from_labels(root, text, allow_missing)
        except (HandwritingError, OSError) as exc:
            if time.monotonic() < deadline and _labels_text_now(root) != text:
                continue
            if isinstance(exc, HandwritingError):
                raise
            raise HandwritingError(f"{root / LABELS_FILE}: {exc.strerror or exc}") from None


def _set_from_labels(root: Path, text: str, allow_missing: bool) -> HandwritingSet:
    digits, places, total, real_root = [], {}, 0, root.resolve()
    hasher = hashlib.sha256(text.encode())
    for name, label_text, line in parse_labels(text, str(root / LABELS_FILE)):
        digit = _check_row(root, name, label_text, line)
        _claim_place(digit, _place(real_root, root / digit.file), places)
        total += (root / digit.file).stat().st_size
        if total > MAX_SET_BYTES:
            raise HandwritingError(f"{digit.where}: the images add up to over {MAX_SET_BYTES // 1_000_000} MB")
        content = hashlib.sha256((root / digit.file).read_bytes())
        hasher.update(f"\n{digit.file}\n".encode())
        hasher.update(content.digest())
        digits.append(replace(digit, sha256=content.hexdigest()))
    if not digits and not allow_missing:
        raise HandwritingError(f"{root / LABELS_FILE} lists no digits yet")
    return HandwritingSet(root, tuple(digits), hasher.hexdigest())


def image_size(source: bytes | Path, where: str) -> tuple[int, int]:
    """(width, height) from the image's header alone (PIL decodes nothing until asked); refused if the file is
    not an image or holds over MAX_IMAGE_PIXELS."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as opened:
            width, height = opened.size
    except Image.DecompressionBombError:
        width = height = MAX_IMAGE_PIXELS  # PIL's own guard, for a header claiming hundreds of megapixels
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise HandwritingError(f"{where}: not a readable image ({type(exc).__name__})") from None
    if width * height > MAX_IMAGE_PIXELS:
        shown = f"{width}×{height} pixels" if width != MAX_IMAGE_PIXELS else "hundreds of megapixels"
        raise HandwritingError(f"{where}: the image is {shown}; at most {MAX_IMAGE_PIXELS:,} are read")
    return width, height


def decode_image(data: bytes, where: str) -> np.ndarray:
    """Image bytes → (H, W, 3|4) uint8, refusing unreadable files and too many pixels before decoding."""
    from PIL import Image

    image_size(data, where)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            return image_array(opened)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise HandwritingError(f"{where}: not a readable image ({type(exc).__name__})") from None


# -- writing ------------------------------------------------------------------------------------


def _png_bytes(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _write_labels(root: Path, rows: list[tuple[str, int]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    atomic_write_bytes(root / LABELS_FILE, buffer.getvalue().encode())


def _rows(hset: HandwritingSet) -> list[tuple[str, int]]:
    return [(d.file, d.label) for d in hset.digits]


def _new_name(root: Path, suffix: str = ".png") -> str:
    while True:
        name = f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}{suffix}"
        if not (root / name).exists():
            return name


def _check_label(label: int) -> int:
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= int(label) <= 9:
        raise HandwritingError(f"the label must be a digit 0-9 (got {label!r})")
    return int(label)


def save_drawing(root: str | os.PathLike[str], image: np.ndarray, pixels: np.ndarray, label: int) -> HandwrittenDigit:
    """Keep a drawing: the canvas image as drawn, the 28×28 input the model saw, and its true label."""
    label = _check_label(label)
    if float(np.asarray(ink_from_image(image)).max(initial=0.0)) <= 0.0:
        raise HandwritingError("the drawing is blank")
    root = Path(root)
    with _write_lock:
        hset = read_set(root, allow_missing=True)
        name = _new_name(root)
        field = np.clip(np.round(np.asarray(pixels, dtype=np.float32) * 255), 0, 255).astype(np.uint8)  # (28, 28)
        atomic_write_bytes(root / INPUTS_DIR / name, _png_bytes(field))
        atomic_write_bytes(root / name, _png_bytes(np.ascontiguousarray(image)))
        _write_labels(root, [*_rows(hset), (name, label)])  # last: until now the set is unchanged
    return HandwrittenDigit(name, label, len(hset) + 2)


def relabel_digit(root: str | os.PathLike[str], file: str, label: int) -> None:
    """Give one saved digit another true label."""
    label = _check_label(label)
    with _write_lock:
        hset = read_set(root, allow_missing=True)
        if file not in {d.file for d in hset.digits}:
            raise HandwritingError(f"{file!r} is not in {LABELS_FILE}")
        _write_labels(Path(root), [(f, label if f == file else old) for f, old in _rows(hset)])


def delete_digit(root: str | os.PathLike[str], file: str) -> None:
    """Remove one digit: its row first (atomically), then its image and 28×28 input."""
    root = Path(root)
    with _write_lock:
        hset = read_set(root, allow_missing=True)
        if file not in {d.file for d in hset.digits}:
            raise HandwritingError(f"{file!r} is not in {LABELS_FILE}")
        _write_labels(root, [row for row in _rows(hset) if row[0] != file])
        (root / file).unlink(missing_ok=True)
        kept_input = saved_input(root, file)
        if kept_input is not None:
            kept_input.unlink()


def saved_input(root: Path, file: str) -> Path | None:
    """The 28×28 input kept for a saved digit: a plain file in the folder's own inputs/, never reached through a
    link (a delete or an export never touches anything else)."""
    inputs = root / INPUTS_DIR
    path = inputs / file
    if inputs.is_symlink() or path.is_symlink() or not path.is_file():
        return None
    return path if path.resolve().is_relative_to(inputs.resolve()) else None


def check_room(hset: HandwritingSet, adding: int) -> None:
    """HandwritingError when `adding` more digits would take the folder over MAX_DIGITS."""
    if len(hset) + adding > MAX_DIGITS:
        raise HandwritingError(
            f"together the folder would hold over {MAX_DIGITS:,} digits ({len(hset):,} now, {adding:,} to add)"
        )


def add_digits(root: str | os.PathLike[str], source: HandwritingSet) -> int:
    """Copy a checked set's images in under new names, labels.csv last; how many were added (a failure adds none)."""
    root = Path(root)
    with _write_lock:
        hset = read_set(root, allow_missing=True)
        check_room(hset, len(source))
        added, written = [], []
        try:
            for digit in source.digits:
                name = _new_name(root, PurePosixPath(digit.file).suffix.lower())
                atomic_write_bytes(root / name, source.path(digit).read_bytes())
                written.append(root / name)
                added.append((name, digit.label))
            _write_labels(root, [*_rows(hset), *added])
        except BaseException:
            for path in written:  # the set is unchanged: take back the images copied so far
                path.unlink(missing_ok=True)
            raise
    return len(added)
