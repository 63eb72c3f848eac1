"""In-memory MNIST equals the seed's transform output; missing or broken files give clear errors."""

from __future__ import annotations

import shutil
import struct
import time
from pathlib import Path

import pytest
import torch
from torchvision import datasets, transforms

from resnet_mnist import load_split
from resnet_mnist.core.data import (
    MNIST_TEST_SIZE,
    MNIST_TRAIN_SIZE,
    DatasetError,
    dataset_status,
    iterate_batches,
    normalize,
)

RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
SEED_TRANSFORM = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])


@pytest.mark.parametrize(("train", "indices"), [(True, [0, 1, 7, 12_345, 59_999]), (False, [0, 3, 4_321, 9_999])])
def test_in_memory_images_equal_the_seeds_transform(data_root: Path, train: bool, indices: list[int]) -> None:
    seed_set = datasets.MNIST(root=str(data_root), train=train, transform=SEED_TRANSFORM, download=False)
    split = load_split(data_root, train=train)
    assert len(split) == len(seed_set) == (MNIST_TRAIN_SIZE if train else MNIST_TEST_SIZE)
    assert split.images.shape[1:] == (1, 28, 28) and split.images.dtype == torch.float32
    for i in indices:
        image, label = seed_set[i]  # (1, 28, 28) through PIL, ToTensor, Normalize
        assert torch.equal(split.images[i], image), f"image {i} differs from the seed's transform"
        assert int(split.labels[i]) == label


def test_batches_are_slices_of_the_split(data_root: Path) -> None:
    split = load_split(data_root, train=False, limit=2_500)
    assert len(split) == 2_500
    batches = list(iterate_batches(split, 1000, shuffle=False))
    assert [len(labels) for _, labels in batches] == [1000, 1000, 500]
    assert torch.equal(torch.cat([images for images, _ in batches]), split.images)
    shuffled = list(iterate_batches(split, 1000, shuffle=True, generator=torch.Generator().manual_seed(1)))
    labels = torch.cat([labels for _, labels in shuffled])
    assert sorted(labels.tolist()) == sorted(split.labels.tolist())
    assert not torch.equal(labels, split.labels)


def test_split_is_loaded_once_per_process(data_root: Path) -> None:
    first = load_split(data_root, train=False)
    assert load_split(data_root, train=False).images.data_ptr() == first.images.data_ptr()


def test_env_var_names_the_data_root(data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESNET_MNIST_DATA", str(data_root))
    assert len(load_split(train=False, limit=10)) == 10
    assert dataset_status().found


def test_missing_dataset_offline_says_where_the_files_go(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    assert not dataset_status(root).found
    started = time.monotonic()
    with pytest.raises(DatasetError) as caught:
        load_split(root, train=False)  # tries to download; there is no network here
    assert time.monotonic() - started < 30, "a failing download must not hang"
    message = str(caught.value)
    assert str(root / "MNIST" / "raw") in message
    assert "t10k-images-idx3-ubyte" in message and "RESNET_MNIST_DATA" in message
    assert "\n" not in message


def test_missing_dataset_without_download(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"MNIST was not found in .*MNIST/raw"):
        load_split(tmp_path, train=True, download=False)


def _test_files_with(tmp_path: Path, data_root: Path, name: str, content: bytes) -> Path:
    """A data folder with MNIST's two test files, `name` holding `content`."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for other in RAW_FILES:
        if other.startswith("t10k"):
            shutil.copy(data_root / "MNIST" / "raw" / other, raw / other)
    (raw / name).write_bytes(content)
    return tmp_path


@pytest.mark.parametrize("victim", ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"])
def test_truncated_raw_file_is_a_dataset_error(data_root: Path, tmp_path: Path, victim: str) -> None:
    whole = (data_root / "MNIST" / "raw" / victim).read_bytes()
    root = _test_files_with(tmp_path, data_root, victim, whole[: len(whole) // 2])
    with pytest.raises(DatasetError) as caught:
        load_split(root, train=False, download=False)
    message = str(caught.value)
    assert str(root / "MNIST" / "raw") in message
    assert "Traceback" not in message


@pytest.mark.parametrize("train", [True, False])
def test_every_pixel_and_label_equals_torchvisions_reading(data_root: Path, train: bool) -> None:
    """The idx files are read by our own reader (core/data.py says why): all of it as torchvision reads it."""
    reference = datasets.MNIST(root=str(data_root), train=train, download=False)
    split = load_split(data_root, train=train)
    assert torch.equal(split.labels, reference.targets)
    assert torch.equal(split.images, normalize(reference.data).unsqueeze(1))


@pytest.mark.parametrize(
    ("victim", "content", "says"),
    [
        # the labels file where the images file should be: 1 dimension, not 3
        (
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
            "not an idx file of 3-dimensional bytes (magic number 0x801)",
        ),
        # a header that claims 2³² images of 2³²×2³² bytes, on a file of 16 bytes: refused unread
        ("t10k-images-idx3-ubyte", struct.pack(">i3I", 0x803, 2**32 - 1, 2**32 - 1, 2**32 - 1), "says it holds"),
        # one byte more than the header says
        (
            "t10k-labels-idx1-ubyte",
            struct.pack(">iI", 0x801, 3) + bytes([1, 2, 3, 4]),
            "4 bytes after its header, which says 3",
        ),
        ("t10k-labels-idx1-ubyte", b"\x00\x00\x08", "3 bytes long, shorter than its header"),
    ],
)
def test_a_raw_file_that_is_not_what_its_header_says_is_one_clear_error(
    data_root: Path, tmp_path: Path, victim: str, content: bytes | str, says: str
) -> None:
    if isinstance(content, str):
        content = (data_root / "MNIST" / "raw" / content).read_bytes()
    root = _test_files_with(tmp_path, data_root, victim, content)
    with pytest.raises(DatasetError) as caught:
        load_split(root, train=False, download=False)
    message = str(caught.value)
    assert says in message and victim in message and "truncated or corrupt" in message
    assert "\n" not in message
