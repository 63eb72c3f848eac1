"""The ONNX export on a real small run and MNIST's real test digits: the file answers as the checkpoint does,
for any batch size; a file whose answers are not finite is refused; the README's five lines run."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from helpers import train_fp32_run
from PIL import Image

from resnet_mnist import load_checkpoint, load_split
from resnet_mnist.core.data import MNIST_TEST_SIZE
from resnet_mnist.core.measure import evaluate
from resnet_mnist.core.precision import FP32
from resnet_mnist.export import TOLERANCE, ExportCheckFailed, export_checked
from resnet_mnist.runs.checkpoint import save_checkpoint

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fp32_run(tmp_path_factory: pytest.TempPathFactory, data_root: Path):
    return train_fp32_run(tmp_path_factory.mktemp("export") / "runs", data_root)


@pytest.fixture(scope="module")
def exported(fp32_run, data_root: Path):
    """The run exported and checked on all 10,000 test digits (a few seconds), and how long it took."""
    started = time.perf_counter()
    result = export_checked(load_checkpoint(fp32_run.checkpoint_path), source=fp32_run.id, data_root=data_root)
    return result, time.perf_counter() - started


def _pixels(data_root: Path) -> np.ndarray:
    """MNIST's test digits as the file takes them: the stored bytes / 255, read from the dataset itself."""
    from torchvision.datasets import MNIST

    data = MNIST(root=str(data_root), train=False, download=False).data  # (10000, 28, 28) uint8
    return (data.numpy().astype(np.float32) / 255)[:, None]  # (10000, 1, 28, 28)


def _own_evaluation(run, data_root: Path, limit: int | None = None):
    """The checkpoint's own test pass in fp32: what `evaluate --checkpoint` computes for this fp32 run."""
    split = load_split(data_root, train=False, limit=limit)
    return evaluate(load_checkpoint(run.checkpoint_path).build_model(), split, 1000, precision=FP32)


def test_the_file_gives_the_checkpoints_answers_on_all_10000_test_digits(exported, fp32_run, data_root) -> None:
    result, seconds = exported
    check = result.check
    assert check.passed and check.digits == MNIST_TEST_SIZE and check.agreed == MNIST_TEST_SIZE
    assert 0 <= check.max_abs_diff <= TOLERANCE
    own = _own_evaluation(fp32_run, data_root)
    assert check.correct == own.correct and check.reference_correct == own.correct
    assert seconds < 60, f"export and check took {seconds:.1f}s"


def test_any_batch_size_works_and_matches_the_engines_answers(exported, fp32_run, data_root) -> None:
    session = ort.InferenceSession(exported[0].data, providers=["CPUExecutionProvider"])
    pixels = _pixels(data_root)[:300]
    own = _own_evaluation(fp32_run, data_root, 300)
    for batch in (1, 7, 300):  # traced with 2: the batch dimension must not have been fixed
        answers = np.concatenate(
            [session.run(None, {"image": pixels[i : i + batch]})[0].argmax(axis=1) for i in range(0, 300, batch)]
        )
        assert (answers == own.predictions.numpy()).all(), f"batch {batch}"


def test_the_file_describes_its_input_and_output(exported, fp32_run) -> None:
    model = onnx.load_from_string(exported[0].data)
    onnx.checker.check_model(model)
    [image], [log_probs] = model.graph.input, model.graph.output
    assert image.name == "image" and log_probs.name == "log_probs"
    dims = [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim]
    assert dims == ["batch", 1, 28, 28]
    metadata = {p.key: p.value for p in model.metadata_props}
    assert metadata["source"] == fp32_run.id and "0.1307" in metadata["input"]


def test_a_model_whose_outputs_are_not_finite_is_refused(fp32_run, data_root, tmp_path: Path) -> None:
    """Finite weights of 1e30 overflow inside the network: both sides give NaN, which must never pass as equal."""
    checkpoint = load_checkpoint(fp32_run.checkpoint_path)
    huge = {key: value * 1e30 for key, value in checkpoint.state_dict.items()}
    path = save_checkpoint(tmp_path / "huge.pt", checkpoint.config, huge, epoch=1)
    with pytest.raises(ExportCheckFailed, match="NaN or infinite on 300 of 300 test digits") as failure:
        export_checked(load_checkpoint(path), source="huge", data_root=data_root, test_limit=300)
    assert not failure.value.check.passed


def _readme_snippet() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("\n## Export") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readmes_five_lines_run_and_read_test_digits(exported, fp32_run, data_root, tmp_path: Path) -> None:
    code = _readme_snippet()
    assert len([line for line in code.splitlines() if line.strip()]) == 5  # five lines of code (ruff adds a blank)
    (tmp_path / "resnet-mnist.onnx").write_bytes(exported[0].data)
    pixels = _pixels(data_root)
    answers = _own_evaluation(fp32_run, data_root, 50).predictions.tolist()
    firsts = {answer: index for index, answer in reversed(list(enumerate(answers)))}  # first digit of each answer
    for answer, index in list(firsts.items())[:3]:  # three digits the checkpoint reads as three different digits
        Image.fromarray(np.round(pixels[index, 0] * 255).astype(np.uint8)).save(tmp_path / "digit.png")
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["digit:", str(answer)], (index, result.stdout)
