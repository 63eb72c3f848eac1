"""Checkpoints rebuild the same model from the file alone, and anything else is refused clearly."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from resnet_mnist import TrainConfig, load_checkpoint
from resnet_mnist.core.engine import build_model
from resnet_mnist.runs.checkpoint import CHECKPOINT_FORMAT, CheckpointError, save_checkpoint

MARKER_NAME = "checkpoint-code-ran"


class _Payload:
    """Unpickling this would create a marker file: the proof that a checkpoint ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, torch.nn.Module, TrainConfig]:
    config = TrainConfig(epochs=3, lr=0.02, momentum=0.7, seed=5, device="cpu")
    model = build_model(5, channels_last=True)  # as the engine trains it
    path = save_checkpoint(
        tmp_path / "model.pt",
        config,
        model.state_dict(),
        epoch=2,
        metrics={"epochs": [{"epoch": 1, "test_accuracy": 0.9}, {"epoch": 2, "test_accuracy": 0.95}]},
    )
    return path, model, config


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_round_trip_gives_identical_outputs(saved, data_root: Path) -> None:
    from resnet_mnist import load_split

    path, model, config = saved
    checkpoint = load_checkpoint(path)
    assert checkpoint.config == config
    assert checkpoint.epoch == 2 and checkpoint.test_accuracy == 0.95
    images = load_split(data_root, train=False, limit=64).images
    with torch.no_grad():
        expected = model.eval()(images)
        got = checkpoint.build_model()(images)
    assert torch.equal(got, expected) or torch.allclose(got, expected, rtol=0, atol=1e-6)
    for key, tensor in model.state_dict().items():
        assert torch.equal(checkpoint.state_dict[key], tensor), key


def test_written_atomically_with_nothing_left_behind(saved) -> None:
    path, model, config = saved
    save_checkpoint(path, config, model.state_dict(), epoch=3)  # overwrite in place
    assert _listing(path.parent) == ["model.pt"]
    assert load_checkpoint(path).epoch == 3


def test_a_failed_write_keeps_the_old_file(saved) -> None:
    path, _, config = saved
    with pytest.raises(Exception):  # noqa: B017 - any failure to serialise will do
        save_checkpoint(path, config, {"fc1.weight": object()}, epoch=9)  # type: ignore[dict-item]
    assert _listing(path.parent) == ["model.pt"]
    assert load_checkpoint(path).epoch == 2


def test_a_bare_state_dict_of_the_seeds_net_loads(tmp_path: Path) -> None:
    model = build_model(3)
    torch.save(model.state_dict(), tmp_path / "seed.pt")
    checkpoint = load_checkpoint(tmp_path / "seed.pt")
    assert checkpoint.config == TrainConfig()
    assert torch.equal(checkpoint.state_dict["fc1.weight"], model.state_dict()["fc1.weight"])


def test_loads_from_a_file_object(saved) -> None:
    path, _, config = saved
    assert load_checkpoint(io.BytesIO(path.read_bytes()), name="upload.pt").config == config


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"no checkpoint file at .*nothing\.pt"):
        load_checkpoint(tmp_path / "nothing.pt")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.02])
def test_truncated_file(saved, keep: float) -> None:
    path, _, _ = saved
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match=r"not a readable checkpoint .*truncated or corrupt"):
        load_checkpoint(path)


def _foreign_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    files = {}
    path = tmp_path / "random_dict.pt"
    torch.save({"weights": torch.randn(3), "note": "hello", "step": 4}, path)
    files["random dict"] = (path, "not a ResNet MNIST Studio checkpoint")
    path = tmp_path / "notes.txt"
    path.write_text("these are my notes, not a model\n")
    files["text file"] = (path, "not a readable checkpoint")
    path = tmp_path / "other_net.pt"
    torch.save(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).state_dict(), path)
    files["another network"] = (path, "weights for a different network")
    path = tmp_path / "wrong_shapes.pt"
    state = build_model(1).state_dict()
    state["fc1.weight"] = torch.zeros(10, 256)
    torch.save(state, path)
    files["wrong shapes"] = (path, "wrong shape for fc1.weight")
    path = tmp_path / "short.txt"
    path.write_text("x\n")  # a different first byte than the notes: a pickle opcode it does not support
    files["short text file"] = (path, "not a readable checkpoint")
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    files["empty file"] = (path, "not a readable checkpoint")
    path = tmp_path / "tensor.pt"
    torch.save(torch.randn(4), path)
    files["a bare tensor"] = (path, "not a ResNet MNIST Studio checkpoint")
    path = tmp_path / "no_weights.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "config": {}, "state_dict": [1, 2], "epoch": 1}, path)
    files["our format without weights"] = (path, "holds no model weights")
    return files


@pytest.mark.parametrize(
    "kind",
    [
        "random dict",
        "text file",
        "short text file",
        "another network",
        "wrong shapes",
        "empty file",
        "a bare tensor",
        "our format without weights",
    ],
)
def test_foreign_file(tmp_path: Path, kind: str) -> None:
    path, expected = _foreign_files(tmp_path)[kind]
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert expected in message
    assert str(path) in message
    assert "\n" not in message


@pytest.mark.parametrize("container", ["torch.save", "plain pickle"])
def test_code_carrying_file_is_refused_without_running_it(tmp_path: Path, container: str) -> None:
    marker = tmp_path / MARKER_NAME
    state = build_model(1).state_dict()
    evil = {**state, "extra": _Payload(marker)}
    path = tmp_path / "evil.pt"
    if container == "torch.save":
        torch.save(evil, path)
    else:
        path.write_bytes(pickle.dumps(evil, protocol=2))
    assert not marker.exists()
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    assert not marker.exists(), "loading the checkpoint ran code from it"
    assert "\n" not in str(caught.value)
    assert "could run code" in str(caught.value)
    # The reference: an unrestricted load would indeed have run it.
    if container == "torch.save":
        torch.load(path, weights_only=False)
    else:
        pickle.loads(path.read_bytes())  # on purpose: the unsafe load
    assert marker.exists()
