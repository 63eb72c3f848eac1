"""Finite and in range: non-finite weights are refused with a message, hyperparameters torch cannot
represent are refused at validation, and a label byte that is not a digit is named with its file."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from helpers import cli_completed, open_app_page

from resnet_mnist import Net, TrainConfig, load_checkpoint, load_split
from resnet_mnist.core.config import MAX_LR
from resnet_mnist.core.data import DatasetError
from resnet_mnist.runs.checkpoint import CHECKPOINT_FORMAT, CheckpointError

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    """The command's main() in this process: its messages and exit codes without a process's imports."""
    return cli_completed(args)


def _checkpoint(state: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "config": TrainConfig().to_dict(), "state_dict": state}, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("bad", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_non_finite_weights_are_refused_with_a_message(tmp_path: Path, bad: float) -> None:
    state = Net().state_dict()
    state["res_block_2.conv1.weight"][3, 1, 0, 0] = bad
    path = tmp_path / "diverged.pt"
    path.write_bytes(_checkpoint(state))
    with pytest.raises(CheckpointError, match=r"non-finite weights \(NaN or infinity\) in res_block_2\.conv1\.weight"):
        load_checkpoint(path)
    result = _cli("predict", str(REPO / "docs" / "screenshots" / "draw.png"), "--checkpoint", str(path), "--json")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "non-finite" in result.stderr and "Traceback" not in result.stderr


def test_the_draw_page_refuses_an_upload_with_nan_weights(data_root: Path) -> None:
    state = Net().state_dict()
    state["fc1.bias"][0] = float("nan")
    at = open_app_page("pages/draw.py")
    at.radio(key="draw_source").set_value("An uploaded checkpoint").run()
    at.file_uploader[0].set_value(("nan.pt", _checkpoint(state), "application/octet-stream")).run()
    assert not at.exception
    assert any("can't be used" in e.value and "non-finite" in e.value for e in at.error)
    assert not at.get("plotly_chart")  # no prediction drawn from it


def test_evaluate_json_is_standard_json(tmp_path: Path, data_root: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(_checkpoint(Net().state_dict()))
    result = _cli("evaluate", "--checkpoint", str(path), "--test-limit", "100", "--json", "--data-root", str(data_root))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    assert data["total"] == 100 and 0 <= data["accuracy"] <= 1


@pytest.mark.parametrize("lr", ["1e39", "3.5e38", "1e308"])
def test_a_learning_rate_beyond_float32_is_refused_at_validation(lr: str, tmp_path: Path) -> None:
    problems = TrainConfig(lr=float(lr)).problems()
    assert [p.field for p in problems] == ["lr"] and "largest float32" in problems[0].message
    assert TrainConfig(lr=MAX_LR).problems() == []
    runs = tmp_path / "runs"
    result = _cli("train", "--lr", lr, "--epochs", "1", "--train-limit", "100", "--runs-dir", str(runs))
    assert result.returncode == 2 and "lr" in result.stderr and "largest float32" in result.stderr
    assert result.stderr.count("\n") == 1 and not runs.exists()


def test_the_train_page_refuses_a_learning_rate_beyond_float32(data_root: Path) -> None:
    at = open_app_page("pages/train.py")
    at.number_input(key="train_lr").set_value(1e39)
    at.button(key="train_start").click().run()
    assert not at.exception
    assert [e.value for e in at.main.error] == ["Not started: fix Learning rate first (marked in the sidebar)."]
    assert any("largest float32" in e.value for e in at.sidebar.error)  # under the field itself


@pytest.fixture
def bad_label_root(tmp_path: Path, data_root: Path) -> Path:
    """A copy of MNIST's test files whose label at position 1234 is the byte 200."""
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        (raw / name).symlink_to(data_root / "MNIST" / "raw" / name)  # a data folder holds all four
    shutil.copy(data_root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte", raw / "t10k-labels-idx1-ubyte")
    labels = raw / "t10k-labels-idx1-ubyte"
    data = bytearray(labels.read_bytes())
    data[8 + 1234] = 200  # after the 8-byte header: magic number and count
    labels.write_bytes(bytes(data))
    return tmp_path / "data"


def test_a_label_that_is_not_a_digit_is_named_with_its_file(bad_label_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte holds 1 labels that are not digits") as caught:
        load_split(bad_label_root, train=False, download=False)
    assert "position 1,234, is 200" in str(caught.value)
    model = tmp_path / "model.pt"
    model.write_bytes(_checkpoint(Net().state_dict()))
    result = _cli("evaluate", "--checkpoint", str(model), "--data-root", str(bad_label_root))
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "t10k-labels-idx1-ubyte" in result.stderr and "Traceback" not in result.stderr
