"""The user's own digits: a plain folder of images plus labels.csv (`file,label`), read and written safely.

Any folder in that format works (the Draw page's saved drawings, or photos from a phone): every
image goes through the same preprocessing as the canvas. Everything read from the folder or from
an imported zip is validated here, once; a bad row gets one message naming the file and its line.
Writes go to temporary files that are renamed into place, labels.csv last, so a failure never
leaves a half-saved set.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import secrets
import tempfile
import threading
import zipfile
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from resnet_mnist.core.data import MnistSplit
from resnet_mnist.core.files import atomic_write_bytes
from resnet_mnist.predict.preprocess import ImageError, ink_from_image, preprocess_image

__all__ = [
    "HANDWRITING_ENV_VAR",
    "INPUTS_DIR",
    "LABELS_FILE",
    "MAX_DIGITS",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "HandwritingData",
    "HandwritingError",
    "HandwritingSet",
    "HandwrittenDigit",
    "delete_digit",
    "export_zip",
    "import_zip",
    "load_digits",
    "read_set",
    "relabel_digit",
    "resolve_handwriting_dir",
    "save_drawing",
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
MAX_ZIP_ENTRIES = 2 * MAX_DIGITS + 8  # each digit's image and its 28×28 input, labels.csv, folders

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


def _safe_relative(name: str, where: str) -> str:
    """A file name from labels.csv or a zip as a clean relative POSIX path, or HandwritingError."""
    if not name or "\\" in name or "\x00" in name or ":" in name:
        raise HandwritingError(f"{where}: {name!r} is not a usable file name")
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("..", "") for part in path.parts) or name.startswith("./"):
        raise HandwritingError(f"{where}: {name!r} points outside the folder")
    return str(path)


def _parse_labels(text: str, source: str) -> list[tuple[str, str, int]]:
    """(file, label text, line) for each data row; the header must be `file,label`."""
    rows = list(csv.reader(io.StringIO(text)))
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
    file = _safe_relative(name, where)
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


def read_set(root: str | os.PathLike[str], *, allow_missing: bool = False) -> HandwritingSet:
    """The folder's labels.csv checked row by row (names, labels, files present and bounded), hashed.

    With `allow_missing`, a folder without labels.csv (or no folder) is an empty set, as the gallery
    wants; otherwise that, and an empty list, raise HandwritingError. Images are decoded by load_digits.
    """
    root = Path(root)
    if allow_missing and not (root / LABELS_FILE).is_file():
        return HandwritingSet(root, (), hashlib.sha256(b"").hexdigest())
    text = _read_labels_text(root)
    digits, seen, total = [], set(), 0
    hasher = hashlib.sha256(text.encode())
    for name, label_text, line in _parse_labels(text, str(root / LABELS_FILE)):
        digit = _check_row(root, name, label_text, line)
        if digit.file in seen:
            raise HandwritingError(f"{digit.where}: the file is listed twice")
        seen.add(digit.file)
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


def _decode(data: bytes, where: str) -> np.ndarray:
    """Image bytes → (H, W, 3|4) uint8, refusing unreadable files and too many pixels before decoding."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as opened:
            width, height = opened.size
            if width * height > MAX_IMAGE_PIXELS:
                raise HandwritingError(
                    f"{where}: the image is {width}×{height} pixels; at most {MAX_IMAGE_PIXELS:,} are read"
                )
            has_alpha = opened.mode in ("RGBA", "LA", "PA") or "transparency" in opened.info
            return np.asarray(opened.convert("RGBA" if has_alpha else "RGB"))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        if isinstance(exc, HandwritingError):
            raise
        raise HandwritingError(f"{where}: not a readable image ({type(exc).__name__})") from None


_loaded: dict[tuple[str, str], HandwritingData] = {}
_loaded_lock = threading.Lock()


def load_digits(hset: HandwritingSet) -> HandwritingData:
    """Every image decoded and preprocessed as the canvas is; cached per folder and content hash."""
    key = (str(hset.root.resolve()), hset.fingerprint)
    with _loaded_lock:
        if key in _loaded:
            return _loaded[key]
    tensors, pixels = [], []
    for digit in hset.digits:
        image = _decode(hset.path(digit).read_bytes(), digit.where)
        try:
            prepared = preprocess_image(image)
        except ImageError as exc:
            raise HandwritingError(f"{digit.where}: {exc}") from None
        if prepared is None:
            raise HandwritingError(f"{digit.where}: no digit found in the image (blank, a dot or a blob)")
        tensors.append(prepared.tensor)
        pixels.append(prepared.pixels)
    images = torch.cat(tensors) if tensors else torch.empty((0, 1, 28, 28))
    labels = torch.tensor([d.label for d in hset.digits], dtype=torch.int64)
    data = HandwritingData(MnistSplit(images, labels), np.stack(pixels) if pixels else np.zeros((0, 28, 28)))
    with _loaded_lock:
        if len(_loaded) >= 8:
            _loaded.pop(next(iter(_loaded)))
        _loaded[key] = data
    return data


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
        (root / INPUTS_DIR / file).unlink(missing_ok=True)


# -- zip import and export ---------------------------------------------------------------------------


def export_zip(root: str | os.PathLike[str]) -> bytes:
    """The folder as a zip: labels.csv, every listed image, and the saved 28×28 inputs."""
    hset = read_set(root)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(hset.root / LABELS_FILE, LABELS_FILE)
        for digit in hset.digits:
            archive.write(hset.path(digit), digit.file)
            saved_input = hset.root / INPUTS_DIR / digit.file
            if saved_input.is_file():
                archive.write(saved_input, f"{INPUTS_DIR}/{digit.file}")
    return buffer.getvalue()


def _checked_entries(archive: zipfile.ZipFile) -> tuple[str, dict[str, zipfile.ZipInfo]]:
    """(prefix, name → entry): the zip's declared sizes and names checked before anything is read."""
    infos = archive.infolist()
    if len(infos) > MAX_ZIP_ENTRIES:
        raise HandwritingError(f"the zip holds {len(infos):,} entries; at most {MAX_ZIP_ENTRIES:,} are read")
    if sum(info.file_size for info in infos) > MAX_SET_BYTES:
        raise HandwritingError(f"the zip unpacks to over {MAX_SET_BYTES // 1_000_000} MB")
    files = {}
    for info in infos:
        name = _safe_relative(info.filename.rstrip("/"), "the zip") if not info.is_dir() else None
        if name is None:
            continue
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


def _stage_zip(data: bytes, staging: Path) -> HandwritingSet:
    """Unpack only labels.csv and the images it lists into `staging`, then read and decode them there."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        raise HandwritingError("the file is not a readable zip") from None
    with archive:
        prefix, files = _checked_entries(archive)
        try:
            labels_bytes = _read_entry(archive, files[prefix + LABELS_FILE])
            (staging / LABELS_FILE).write_bytes(labels_bytes)
            text = labels_bytes.decode("utf-8-sig")
            for name, _, line in _parse_labels(text, f"the zip's {LABELS_FILE}"):
                inner = _safe_relative(name, f"the zip's {LABELS_FILE} line {line}")
                if prefix + inner in files:
                    target = staging / inner
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(_read_entry(archive, files[prefix + inner]))
        except (zipfile.BadZipFile, OSError, UnicodeDecodeError, EOFError) as exc:
            raise HandwritingError(f"the zip is damaged ({type(exc).__name__})") from None
    staged = read_set(staging)
    load_digits(staged)  # every image must decode and hold a digit before anything is added
    return staged


def import_zip(root: str | os.PathLike[str], data: bytes) -> int:
    """Add the digits of a zipped handwriting folder to this one; returns how many were added.

    The zip is checked whole first (its declared sizes, names and entry count before unpacking,
    then every row and image); only then are its images copied in under new names and labels.csv
    rewritten, so a bad zip adds nothing.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".import-") as tmp:
        staged = _stage_zip(data, Path(tmp))
        with _write_lock:
            hset = read_set(root, allow_missing=True)
            if len(hset) + len(staged) > MAX_DIGITS:
                raise HandwritingError(f"together the folder would hold over {MAX_DIGITS:,} digits")
            added, written = [], []
            try:
                for digit in staged.digits:
                    name = _new_name(root, PurePosixPath(digit.file).suffix.lower())
                    atomic_write_bytes(root / name, staged.path(digit).read_bytes())
                    written.append(root / name)
                    added.append((name, digit.label))
                _write_labels(root, [*_rows(hset), *added])
            except BaseException:
                for path in written:  # the set is unchanged: take back the images copied so far
                    path.unlink(missing_ok=True)
                raise
    return len(added)
