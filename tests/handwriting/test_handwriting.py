"""The handwriting folder: saving, relabelling, deleting, reading with validation, zip import and export.

Digits are real MNIST test digits, restyled (testdata/styled_handwriting.py) or drawn as on the canvas.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torchvision.datasets import MNIST

from resnet_mnist.handwriting.archive import MAX_ZIP_ENTRIES, export_zip, import_zip
from resnet_mnist.handwriting.decoding import load_digits
from resnet_mnist.handwriting.digits import (
    INPUTS_DIR,
    LABELS_FILE,
    MAX_IMAGE_BYTES,
    HandwritingError,
    delete_digit,
    read_set,
    relabel_digit,
    resolve_handwriting_dir,
    save_drawing,
)
from resnet_mnist.predict.preprocess import preprocess_image
from testdata.styled_handwriting import make_styled_folder


@pytest.fixture(scope="module")
def mnist_test(data_root: Path) -> MNIST:
    return MNIST(str(data_root), train=False)


@pytest.fixture
def styled(tmp_path: Path, mnist_test: MNIST) -> Path:
    """A folder of 12 restyled MNIST test digits (thick, slanted, dark on light, off-centre)."""
    return make_styled_folder(tmp_path / "styled", mnist_test.data[-12:].numpy(), mnist_test.targets[-12:].numpy())


def canvas_drawing(digit: np.ndarray) -> np.ndarray:
    """An MNIST digit as the Draw page's 280×280 canvas returns it: white strokes on black, RGBA."""
    big = np.asarray(Image.fromarray(digit).resize((280, 280), Image.BILINEAR))
    return np.dstack([big, big, big, np.full_like(big, 255)])


def write_labels(root: Path, text: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / LABELS_FILE).write_text(text)


def test_the_folder_defaults_to_the_environment_then_handwriting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESNET_MNIST_HANDWRITING", "/somewhere/else")
    assert resolve_handwriting_dir() == Path("/somewhere/else")
    assert resolve_handwriting_dir("mine") == Path("mine")
    monkeypatch.delenv("RESNET_MNIST_HANDWRITING")
    assert resolve_handwriting_dir() == Path("handwriting")


def test_a_restyled_folder_reads_back_with_its_labels(styled: Path, mnist_test: MNIST) -> None:
    hset = read_set(styled)
    data = load_digits(hset)
    assert [d.label for d in hset.digits] == mnist_test.targets[-12:].tolist()
    assert data.split.images.shape == (12, 1, 28, 28) and data.pixels.shape == (12, 28, 28)
    assert data.split.labels.tolist() == mnist_test.targets[-12:].tolist()
    assert sum(hset.counts()) == 12


def test_save_relabel_delete_keep_the_folder_consistent(tmp_path: Path, mnist_test: MNIST) -> None:
    root = tmp_path / "hw"
    image = canvas_drawing(mnist_test.data[0].numpy())  # a 7
    prepared = preprocess_image(image)
    first = save_drawing(root, image, prepared.pixels, 1)  # saved with a corrected label
    second = save_drawing(root, image, prepared.pixels, 7)
    assert (root / LABELS_FILE).read_text().splitlines() == ["file,label", f"{first.file},1", f"{second.file},7"]
    # The canvas image as drawn, and the 28×28 input the model saw.
    assert np.array_equal(np.asarray(Image.open(root / first.file)), image)
    saved_input = np.asarray(Image.open(root / INPUTS_DIR / first.file))
    assert saved_input.shape == (28, 28) and np.abs(saved_input / 255 - prepared.pixels).max() <= 1 / 255
    before = read_set(root).fingerprint

    relabel_digit(root, first.file, 4)
    assert [d.label for d in read_set(root).digits] == [4, 7]
    assert read_set(root).fingerprint != before

    delete_digit(root, first.file)
    assert [d.file for d in read_set(root).digits] == [second.file]
    assert not (root / first.file).exists() and not (root / INPUTS_DIR / first.file).exists()
    with pytest.raises(HandwritingError, match=r"not in labels\.csv"):
        relabel_digit(root, first.file, 3)


def test_saving_refuses_a_bad_label_or_a_blank_drawing(tmp_path: Path) -> None:
    blank = np.zeros((280, 280, 4), dtype=np.uint8)
    some_ink = np.zeros((28, 28), dtype=np.float32)
    with pytest.raises(HandwritingError, match="blank"):
        save_drawing(tmp_path / "hw", blank, some_ink, 3)
    with pytest.raises(HandwritingError, match="0-9"):
        save_drawing(tmp_path / "hw", blank, some_ink, 10)
    assert not (tmp_path / "hw" / LABELS_FILE).exists()


BAD_ROWS = {
    "label is not a digit": ("page-0000.png,x\n", "line 2 (page-0000.png): the label 'x' is not a digit 0-9"),
    "label 10": ("page-0000.png,10\n", "line 2 (page-0000.png): the label '10' is not a digit 0-9"),
    "missing file": ("nothere.png,3\n", "line 2 (nothere.png): the file is missing"),
    "path traversal": ("../outside.png,3\n", "line 2 (../outside.png): '../outside.png' points outside the folder"),
    "absolute path": ("/etc/passwd.png,3\n", "points outside the folder"),
    "three fields": ("page-0000.png,3,extra\n", "line 2: expected 2 fields (file,label), found 3"),
    "not an image name": ("labels.csv,3\n", "line 2 (labels.csv): not an image file name"),
    "listed twice": ("page-0000.png,3\npage-0000.png,3\n", "line 3 (page-0000.png): the file is listed twice"),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_a_bad_row_is_one_message_naming_the_file_and_line(case: str, styled: Path) -> None:
    rows, message = BAD_ROWS[case]
    (styled / LABELS_FILE).write_text("file,label\n" + rows)
    with pytest.raises(HandwritingError) as raised:
        read_set(styled)
    assert message in str(raised.value)


def test_folder_level_problems_are_named(tmp_path: Path) -> None:
    with pytest.raises(HandwritingError, match="no handwriting folder"):
        read_set(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HandwritingError, match=r"has no labels\.csv"):
        read_set(tmp_path / "empty")
    assert len(read_set(tmp_path / "empty", allow_missing=True)) == 0
    write_labels(tmp_path / "header_only", "file,label\n")
    with pytest.raises(HandwritingError, match="lists no digits yet"):
        read_set(tmp_path / "header_only")
    write_labels(tmp_path / "wrong_header", "image,digit\na.png,1\n")
    with pytest.raises(HandwritingError, match="must start with the header 'file,label'"):
        read_set(tmp_path / "wrong_header")
    (tmp_path / "binary").mkdir()
    (tmp_path / "binary" / LABELS_FILE).write_bytes(b"file,label\n\xff\xfe,1\n")
    with pytest.raises(HandwritingError, match="not UTF-8"):
        read_set(tmp_path / "binary")


def test_unreadable_blank_and_huge_images_are_named_when_decoded(styled: Path) -> None:
    (styled / "page-0001.png").write_bytes(b"not a png at all")
    with pytest.raises(HandwritingError, match=r"line 3 \(page-0001.png\): not a readable image"):
        load_digits(read_set(styled))
    Image.new("L", (200, 200), 255).save(styled / "page-0001.png")
    with pytest.raises(HandwritingError, match=r"line 3 \(page-0001.png\): no digit found"):
        load_digits(read_set(styled))
    Image.new("L", (5000, 4000), 255).save(styled / "page-0001.png")  # 20 megapixels, a few kB on disk
    with pytest.raises(HandwritingError, match=r"line 3 \(page-0001.png\): the image is 5000×4000 pixels"):
        load_digits(read_set(styled))


def test_a_link_leading_out_of_the_folder_is_refused(styled: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.png"
    Image.new("L", (50, 50), 0).save(outside)
    (styled / "link.png").symlink_to(outside)
    (styled / LABELS_FILE).write_text("file,label\nlink.png,1\n")
    with pytest.raises(HandwritingError, match="outside the folder"):
        read_set(styled)


def test_export_then_import_adds_the_same_digits(styled: Path, tmp_path: Path) -> None:
    data = export_zip(styled)
    target = tmp_path / "other"
    assert import_zip(target, data) == 12
    assert import_zip(target, data) == 12  # twice: new names, nothing overwritten
    imported = read_set(target)
    assert len(imported) == 24
    assert imported.counts() == [2 * c for c in read_set(styled).counts()]
    assert np.array_equal(load_digits(imported).split.images[:12], load_digits(read_set(styled)).split.images)


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _png(styled: Path) -> bytes:
    return (styled / "page-0000.png").read_bytes()


def test_a_zipped_folder_inside_one_top_folder_is_accepted(styled: Path, tmp_path: Path) -> None:
    data = _zip({"mine/labels.csv": b"file,label\na.png,3\n", "mine/a.png": _png(styled)})
    assert import_zip(tmp_path / "hw", data) == 1
    assert [d.label for d in read_set(tmp_path / "hw").digits] == [3]


BAD_ZIPS = {
    "not a zip": (lambda png: b"PK\x03\x04 nothing", "not a readable zip"),
    "no labels.csv": (lambda png: _zip({"a.png": png}), "holds no labels.csv"),
    "path traversal entry": (
        lambda png: _zip({"labels.csv": b"file,label\na.png,3\n", "a.png": png, "../evil.png": png}),
        "points outside the folder",
    ),
    "absolute entry": (lambda png: _zip({"labels.csv": b"file,label\n", "/tmp/evil.png": png}), "outside the folder"),
    "traversal in labels.csv": (
        lambda png: _zip({"labels.csv": b"file,label\n../../evil.png,3\n", "a.png": png}),
        "points outside the folder",
    ),
    "bad label": (lambda png: _zip({"labels.csv": b"file,label\na.png,three\n", "a.png": png}), "not a digit 0-9"),
    "listed file absent": (lambda png: _zip({"labels.csv": b"file,label\na.png,3\nb.png,4\n", "a.png": png}), "b.png"),
    "unreadable image": (lambda png: _zip({"labels.csv": b"file,label\na.png,3\n", "a.png": b"garbage"}), "readable"),
    "an entry too big": (
        lambda png: _zip({"labels.csv": b"file,label\na.png,3\n", "a.png": bytes(MAX_IMAGE_BYTES + 1)}),
        "unpacks to over",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ZIPS))
def test_a_bad_zip_adds_nothing(case: str, styled: Path, tmp_path: Path) -> None:
    make, message = BAD_ZIPS[case]
    root = tmp_path / "hw"
    write_labels(root, "file,label\n")
    with pytest.raises(HandwritingError, match=message):
        import_zip(root, make(_png(styled)))
    assert (root / LABELS_FILE).read_text() == "file,label\n"
    assert sorted(p.name for p in root.iterdir()) == [LABELS_FILE]  # no image, no staging folder left
    assert not (tmp_path / "evil.png").exists()


def test_a_zip_with_too_many_entries_is_refused_before_unpacking(tmp_path: Path) -> None:
    data = _zip({f"{i}.png": b"" for i in range(MAX_ZIP_ENTRIES + 1)})
    with pytest.raises(HandwritingError, match="entries; at most"):
        import_zip(tmp_path / "hw", data)


def test_a_zip_whose_headers_understate_a_size_is_caught(styled: Path, tmp_path: Path) -> None:
    """Declared sizes decide before unpacking; the bytes read are still bounded by them."""
    data = bytearray(_zip({"labels.csv": b"file,label\na.png,3\n", "a.png": _png(styled)}))
    real = len(_png(styled)).to_bytes(4, "little")
    # Rewrite a.png's declared size (local header and central directory) to 10 bytes.
    for at in [i for i in range(len(data) - 4) if data[i : i + 4] == real]:
        data[at : at + 4] = (10).to_bytes(4, "little")
    with pytest.raises(HandwritingError):
        import_zip(tmp_path / "hw", bytes(data))
    assert not (tmp_path / "hw" / LABELS_FILE).exists()
