"""MNIST, loaded once into memory as normalised tensors and served in batches."""

from __future__ import annotations

import math
import os
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import getproxies

import torch

__all__ = [
    "DATA_ENV_VAR",
    "DEFAULT_DATA_ROOT",
    "MNIST_MEAN",
    "MNIST_STD",
    "MNIST_TEST_SIZE",
    "MNIST_TRAIN_SIZE",
    "DatasetError",
    "DatasetStatus",
    "MnistSplit",
    "dataset_status",
    "iterate_batches",
    "load_split",
    "normalize",
    "resolve_data_root",
]

# The seed's transforms.Normalize((0.1307,), (0.3081,)): MNIST's training-set mean and std.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

DATA_ENV_VAR = "RESNET_MNIST_DATA"
DEFAULT_DATA_ROOT = Path("data")
_RAW_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# The number of images in each split; nothing else in the project spells these out.
MNIST_TRAIN_SIZE = 60_000
MNIST_TEST_SIZE = 10_000
_SPLIT_SIZES = {True: MNIST_TRAIN_SIZE, False: MNIST_TEST_SIZE}


class DatasetError(RuntimeError):
    """MNIST could not be had; the message says what to do."""


@dataclass(frozen=True)
class MnistSplit:
    """One split in memory: images (N, 1, 28, 28) float32 normalised, labels (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device | str) -> MnistSplit:
        return MnistSplit(self.images.to(device), self.labels.to(device))

    def head(self, limit: int | None) -> MnistSplit:
        """The first `limit` images (a view, no copy); all of them when `limit` is None."""
        if limit is None or limit >= len(self):
            return self
        return MnistSplit(self.images[:limit], self.labels[:limit])


@dataclass(frozen=True)
class DatasetStatus:
    """What the data folder holds, for showing to a person before training."""

    root: Path
    found: bool
    train_size: int
    test_size: int
    message: str


def resolve_data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: the argument, else $RESNET_MNIST_DATA, else ./data."""
    if root is not None and str(root) != "":
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV_VAR)
    return Path(env).expanduser() if env else DEFAULT_DATA_ROOT


def _raw_dir(root: Path) -> Path:
    return root / "MNIST" / "raw"


def _files_present(root: Path, train: bool) -> bool:
    return all((_raw_dir(root) / name).is_file() for name in _RAW_FILES[train])


def _missing_message(root: Path, cause: str) -> str:
    return (
        f"MNIST was not found in {_raw_dir(root)} and could not be downloaded ({cause}). "
        f"Put the four files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte "
        f"and t10k-labels-idx1-ubyte in {_raw_dir(root)}, or point --data-root / ${DATA_ENV_VAR} "
        f"at a folder that holds MNIST/raw/."
    )


_PROBE_TIMEOUT_S = 5.0


def _unreachable_mirrors(mirrors: list[str]) -> str | None:
    """Why none of the download mirrors answers, or None when one does.

    urllib has no timeout of its own: behind a firewall that drops packets a download would
    hang for minutes, so we first try to open a connection to each mirror, briefly.
    """
    problems = []
    proxies = getproxies()
    for mirror in mirrors:
        url = urlsplit(mirror)
        if url.scheme in proxies:
            return None  # urllib goes through the proxy; a direct probe would say nothing
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            with socket.create_connection((url.hostname, port), timeout=_PROBE_TIMEOUT_S):
                return None
        except OSError as exc:
            problems.append(f"{url.hostname}: {exc.strerror or type(exc).__name__}")
    return "no connection to " + ", ".join(problems)


def _download(root: Path) -> None:
    from torchvision.datasets import MNIST

    unreachable = _unreachable_mirrors(list(MNIST.mirrors))
    if unreachable:
        raise DatasetError(_missing_message(root, unreachable))
    try:
        for train in (True, False):
            MNIST(root=str(root), train=train, download=True)
    except Exception as exc:  # network errors come in many types; all mean the same here
        cause = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line, however torchvision words it
        raise DatasetError(_missing_message(root, cause[:300])) from None


def normalize(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (any shape) → float32 normalised exactly as ToTensor + Normalize do."""
    # Same operations in the same order as torchvision, so results are bit-identical.
    return pixels.to(torch.float32).div(255).sub(MNIST_MEAN).div(MNIST_STD)


def load_split(
    root: str | os.PathLike[str] | None = None,
    *,
    train: bool,
    limit: int | None = None,
    download: bool = True,
) -> MnistSplit:
    """Read one split through torchvision's MNIST class, normalised once, in memory.

    Downloads when the files are missing and `download` is set; raises DatasetError with
    a sentence saying where the files go when that fails.
    """
    root = resolve_data_root(root)
    if not _files_present(root, train):
        if not download:
            raise DatasetError(_missing_message(root, "downloading was turned off"))
        _download(root)
    return _cached_split(root, train).head(limit)


_cache: dict[tuple, MnistSplit] = {}
_cache_lock = threading.Lock()


def _cached_split(root: Path, train: bool) -> MnistSplit:
    """Each split is parsed and normalised once per process (keyed by the files' identity)."""
    files = [_raw_dir(root) / name for name in _RAW_FILES[train]]  # images and labels: either may change
    key = (train, *((str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files))
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _read_split(root, train)
        return _cache[key]


def _read_split(root: Path, train: bool) -> MnistSplit:
    images_file, labels_file = (_raw_dir(root) / name for name in _RAW_FILES[train])
    try:
        pixels, labels = _read_idx(images_file, dims=3), _read_idx(labels_file, dims=1)
    except (OSError, ValueError) as exc:
        files = ", ".join(_RAW_FILES[train])
        raise DatasetError(
            f"The MNIST files in {_raw_dir(root)} ({files}) could not be read: {exc}. "
            f"They may be truncated or corrupt: delete them to download them again, "
            f"or copy good ones there."
        ) from None
    expected = _SPLIT_SIZES[train]
    if pixels.shape[1:] != (28, 28) or len(pixels) != len(labels) or len(pixels) != expected:
        raise DatasetError(
            f"The MNIST {'training' if train else 'test'} files in {_raw_dir(root)} hold "
            f"{len(pixels)} images and {len(labels)} labels, not {expected}: they are incomplete. "
            f"Delete them to download them again."
        )
    bad = torch.nonzero((labels < 0) | (labels > 9)).flatten()
    if len(bad):
        first = int(bad[0])
        raise DatasetError(
            f"The MNIST labels file {_raw_dir(root) / _RAW_FILES[train][1]} holds {len(bad):,} labels that are "
            f"not digits 0–9 (the first, at position {first:,}, is {int(labels[first])}): it is corrupt. "
            f"Delete it to download it again, or copy a good one there."
        )
    images = normalize(pixels).unsqueeze(1)  # (N, 1, 28, 28)
    return MnistSplit(images.contiguous(), labels.to(torch.int64).contiguous())


_IDX_UBYTE = 0x0800  # an idx file's magic number: 0x08 (unsigned bytes) << 8 | its number of dimensions
_IDX_MAX_BYTES = MNIST_TRAIN_SIZE * 28 * 28  # the largest file's body: a header claiming more is refused unread


def _read_idx(path: Path, *, dims: int) -> torch.Tensor:
    """One of MNIST's idx files (a big-endian header: magic, then each dimension's size; then the bytes).

    Read here rather than through torchvision's MNIST class, whose import alone cost every process
    that loads data 1.0 s of CPU (a sweep's every worker, every CLI command). The header is checked
    against the file's size before the body is read, so a file is read only when it holds what it says.
    """
    header_size = 4 * (1 + dims)
    with path.open("rb") as file:
        header = file.read(header_size)
        if len(header) < header_size:
            raise ValueError(f"{path.name} is {len(header)} bytes long, shorter than its header")
        magic, *shape = struct.unpack(f">i{dims}I", header)
        if magic != _IDX_UBYTE + dims:
            raise ValueError(f"{path.name} is not an idx file of {dims}-dimensional bytes (magic number {magic:#x})")
        size = math.prod(shape)
        if size > _IDX_MAX_BYTES:
            raise ValueError(f"{path.name} says it holds {size:,} bytes, more than any MNIST file ({_IDX_MAX_BYTES:,})")
        actual = os.fstat(file.fileno()).st_size - header_size
        if actual != size:
            raise ValueError(f"{path.name} holds {actual:,} bytes after its header, which says {size:,}")
        body = bytearray(file.read(size))
    return torch.frombuffer(body, dtype=torch.uint8).reshape(shape)


def dataset_status(root: str | os.PathLike[str] | None = None) -> DatasetStatus:
    """Whether both splits are present, without loading or downloading them."""
    root = resolve_data_root(root)
    train, test = _files_present(root, True), _files_present(root, False)
    if train and test:
        return DatasetStatus(root, True, _SPLIT_SIZES[True], _SPLIT_SIZES[False], f"found in {_raw_dir(root)}")
    return DatasetStatus(
        root,
        False,
        0,
        0,
        f"not found in {_raw_dir(root)}: it will be downloaded on the first run if this machine is online; "
        f"offline, copy the four MNIST raw files there or set ${DATA_ENV_VAR}.",
    )


def iterate_batches(
    split: MnistSplit, batch_size: int, *, shuffle: bool, generator: torch.Generator | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of (images, labels) straight from the in-memory tensors; the last may be short."""
    n = len(split)
    if shuffle:
        order = torch.randperm(n, generator=generator, device="cpu").to(split.images.device)
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            yield split.images.index_select(0, index), split.labels.index_select(0, index)
    else:
        for start in range(0, n, batch_size):
            yield split.images[start : start + batch_size], split.labels[start : start + batch_size]
