"""The handwriting folder against what broke it (issue 27): rows that reach one file, labels.csv files the csv
module cannot read, names longer than a file system allows, and 16-bit grey pictures.

Digits are real MNIST test digits, restyled as a person's pen and paper differ (testdata/styled_handwriting.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import cli_completed, record_run
from PIL import Image
from torchvision.datasets import MNIST

from resnet_mnist import RunStore
from resnet_mnist.handwriting.decoding import load_digits
from resnet_mnist.handwriting.digits import (
    INPUTS_DIR,
    LABELS_FILE,
    HandwritingError,
    delete_digit,
    read_set,
)
from resnet_mnist.predict.preprocess import load_image
from testdata.styled_handwriting import make_styled_folder

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mnist_test(data_root: Path) -> MNIST:
    return MNIST(str(data_root), train=False)


@pytest.fixture
def styled(tmp_path: Path, mnist_test: MNIST) -> Path:
    """A folder of 4 restyled MNIST test digits, page-0000.png … page-0003.png."""
    return make_styled_folder(tmp_path / "styled", mnist_test.data[-4:].numpy(), mnist_test.targets[-4:].numpy())


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


# -- 1. a delete removes the one file its row names ----------------------------------------------------


def test_a_row_in_inputs_beside_the_digit_it_shadows_is_refused_and_a_delete_removes_nothing(styled: Path) -> None:
    """`a.png` and `inputs/a.png` both listed: deleting `a.png` (which takes its saved input) removed the other."""
    (styled / INPUTS_DIR).mkdir()
    (styled / "page-0000.png").rename(styled / "a.png")
    (styled / "page-0001.png").rename(styled / INPUTS_DIR / "a.png")
    (styled / LABELS_FILE).write_text("file,label\na.png,3\ninputs/a.png,5\npage-0002.png,1\n")
    before = _files(styled)
    with pytest.raises(HandwritingError, match=r"line 3 \(inputs/a\.png\): the file lies in inputs/"):
        read_set(styled)
    with pytest.raises(HandwritingError, match="inputs/"):
        delete_digit(styled, "a.png")
    assert _files(styled) == before  # nothing deleted, labels.csv unchanged


def _link(root: Path) -> str:
    (root / "link.png").symlink_to("page-0000.png")
    return "link.png"


def _other_case(root: Path) -> str:
    (root / "PAGE-0000.png").write_bytes((root / "page-0000.png").read_bytes())  # on a Mac or Windows disk: one file
    return "PAGE-0000.png"


@pytest.mark.parametrize("make", [_link, _other_case], ids=["a link to another row's file", "another case"])
def test_rows_that_reach_one_file_are_refused_on_read(make, styled: Path) -> None:
    name = make(styled)
    (styled / LABELS_FILE).write_text(f"file,label\npage-0000.png,3\n{name},3\n")
    with pytest.raises(HandwritingError, match=r"line 3 .*the same file as line 2 \(page-0000\.png\)"):
        read_set(styled)


def test_a_delete_never_follows_a_link_out_of_the_folder(styled: Path, tmp_path: Path) -> None:
    """inputs/ as a link to another folder: the digit's 'saved input' there is someone else's file."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "page-0000.png").write_bytes(b"not ours")
    (styled / INPUTS_DIR).symlink_to(elsewhere)
    delete_digit(styled, "page-0000.png")
    assert [d.file for d in read_set(styled).digits] == ["page-0001.png", "page-0002.png", "page-0003.png"]
    assert not (styled / "page-0000.png").exists()
    assert (elsewhere / "page-0000.png").read_bytes() == b"not ours"


# -- 2. labels.csv that the csv module cannot read -------------------------------------------------------


def test_labels_with_cr_only_line_endings_are_read(styled: Path) -> None:
    """Excel's "CSV (Macintosh)" ends lines with a lone CR."""
    (styled / LABELS_FILE).write_bytes(b"file,label\rpage-0000.png,3\rpage-0001.png,5\r")
    assert [(d.file, d.label, d.line) for d in read_set(styled).digits] == [
        ("page-0000.png", 3, 2),
        ("page-0001.png", 5, 3),
    ]


BAD_CSV = {
    "a field over csv's limit": (
        "file,label\npage-0000.png,3\n" + "x" * 131_073 + ".png,4\n",
        "line 3: not readable as CSV (field larger than field limit",
    ),
    "a name too long for the file system": (
        "file,label\npage-0000.png,3\n" + "y" * 5000 + ".png,4\n",
        "line 3 (yyyy",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CSV))
def test_an_unreadable_labels_file_is_one_message_naming_the_row(case: str, styled: Path) -> None:
    text, message = BAD_CSV[case]
    (styled / LABELS_FILE).write_text(text)
    with pytest.raises(HandwritingError) as raised:
        read_set(styled)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The command's main() in this process: its messages and exit codes without a process's imports."""
    return cli_completed(args)


def test_the_cli_reads_cr_only_labels_and_names_the_row_of_an_unreadable_one(styled: Path, tmp_path: Path) -> None:
    run = record_run(RunStore(tmp_path / "runs"))
    (styled / LABELS_FILE).write_bytes(b"file,label\rpage-0000.png,3\rpage-0001.png,5\r")
    result = _cli("evaluate", "--checkpoint", run.checkpoint_path, "--handwriting", styled)
    assert result.returncode == 0, result.stderr
    assert "Accuracy: " in result.stdout and "/2 (" in result.stdout
    (styled / LABELS_FILE).write_text(BAD_CSV["a field over csv's limit"][0])
    for command in (
        ("evaluate", "--checkpoint", run.checkpoint_path, "--handwriting", styled),
        ("finetune", "--from", run.id, "--handwriting", styled, "--runs-dir", tmp_path / "runs"),
    ):
        result = _cli(*command)
        assert result.returncode != 0, command
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # one line, no traceback
        assert "line 3: not readable as CSV" in result.stderr, result.stderr


# -- 10. a 16-bit grey picture -----------------------------------------------------------------------------


def test_a_16_bit_grey_png_reads_as_its_8_bit_twin(styled: Path, tmp_path: Path) -> None:
    """PIL's convert("RGB") clips 16-bit values at 255: a digit in mid-greys on white read as a blank page."""
    eight = np.asarray(Image.open(styled / "page-0000.png").convert("L"))  # dark ink on light paper
    sixteen = eight.astype(np.uint16) * 257  # the same picture at 16 bits: 0..255 → 0..65535
    Image.fromarray(sixteen).save(styled / "page-0000.png")
    assert Image.open(styled / "page-0000.png").mode == "I;16"
    Image.fromarray(eight).save(tmp_path / "eight.png")
    assert np.array_equal(load_image(styled / "page-0000.png"), load_image(tmp_path / "eight.png"))  # predict, CLI
    data = load_digits(read_set(styled))  # My digits, scores, teach
    Image.fromarray(eight).save(styled / "page-0000.png")
    twin = load_digits(read_set(styled))
    assert data.pixels[0].max() > 0.5  # a digit, not a blank page
    assert np.array_equal(data.split.images[0], twin.split.images[0])
