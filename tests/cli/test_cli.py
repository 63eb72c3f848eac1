"""`python -m resnet_mnist` as a person runs it: a real process, real data, real checkpoints."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import cli_in_this_process
from PIL import Image

from resnet_mnist import TrainConfig, load_checkpoint, load_split, predict
from resnet_mnist.core.data import MNIST_TEST_SIZE
from resnet_mnist.core.engine import build_model
from resnet_mnist.runs.checkpoint import save_checkpoint

REPO = Path(__file__).resolve().parents[2]
TEST_LINE = re.compile(r"Test set: Average loss: (\d+\.\d{4}), Accuracy: (\d+)/(\d+) \((\d+\.\d{2})%\)")


def _command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "resnet_mnist", *map(str, args)]


def _env() -> dict[str, str]:
    # os.environ already holds this test's RESNET_MNIST_DATA / RESNET_MNIST_RUNS (conftest).
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


def _run(*args: str | Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(*args), cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def test_train_prints_each_epoch_and_where_the_run_is(tmp_path: Path) -> None:
    runs = tmp_path / "my-runs"
    result = _run("train", "--train-limit", 1000, "--test-limit", 500, "--epochs", 2, "--runs-dir", runs)
    assert result.returncode == 0, result.stderr
    lines = TEST_LINE.findall(result.stdout)
    assert len(lines) == 2, result.stdout
    for loss, correct, total, percent in lines:
        assert int(total) == 500 and 0 < float(loss) < 2.5
        assert float(percent) == pytest.approx(100 * int(correct) / 500, abs=0.006)
    assert "Epoch 1:" in result.stdout and "Epoch 2:" in result.stdout
    folder = Path(re.search(r"^Run folder: (.+)$", result.stdout, re.M).group(1))
    checkpoint = Path(re.search(r"^Checkpoint: (.+)$", result.stdout, re.M).group(1))
    assert folder.parent == runs and checkpoint == folder / "checkpoint.pt"
    saved = load_checkpoint(checkpoint)
    assert saved.epoch == 2 and saved.config.train_limit == 1000
    assert saved.test_accuracy == pytest.approx(int(lines[-1][1]) / 500)
    assert "Traceback" not in result.stderr


def test_evaluate_json(trained_run, data_root: Path) -> None:
    result = _run("evaluate", "--checkpoint", trained_run.checkpoint_path, "--data-root", data_root, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert 0 <= report["accuracy"] <= 1 and report["total"] == MNIST_TEST_SIZE
    assert report["accuracy"] == pytest.approx(trained_run.final_accuracy)
    assert report["accuracy"] > 0.97
    assert 0 < report["loss"] < 0.2


def test_evaluate_prints_the_seeds_test_line(trained_run) -> None:
    result = _run("evaluate", "--checkpoint", trained_run.checkpoint_path, "--test-limit", 1000)
    assert result.returncode == 0, result.stderr
    [(_, _, total, _)] = TEST_LINE.findall(result.stdout)
    assert total == "1000"


def _confident_test_digits(checkpoint: Path, data_root: Path, count: int) -> list[tuple[int, np.ndarray]]:
    """`count` test digits of different classes that the model gets right from the dataset itself."""
    from torchvision.datasets import MNIST

    model = load_checkpoint(checkpoint).build_model()
    test = load_split(data_root, train=False, limit=100)
    raw = MNIST(str(data_root), train=False).data[:100].numpy()  # (100, 28, 28) uint8, white on black
    chosen: dict[int, np.ndarray] = {}
    for i, prediction in enumerate(predict(model, test.images)):
        label = int(test.labels[i])
        if prediction.digit == label and prediction.confidence > 0.99 and label not in chosen:
            chosen[label] = raw[i]
        if len(chosen) == count:
            break
    return list(chosen.items())


def test_predict_json_returns_the_digit_of_an_mnist_png(trained_run, data_root: Path, tmp_path: Path) -> None:
    digits = _confident_test_digits(trained_run.checkpoint_path, data_root, 3)
    (label_a, gray), (label_b, rgb), (label_c, rgba) = digits
    files = {
        tmp_path / "gray.png": (label_a, Image.fromarray(gray, "L")),
        # Black ink on white paper, four times the size, as a JPEG.
        tmp_path / "paper.jpg": (
            label_b,
            Image.fromarray(255 - rgb, "L").convert("RGB").resize((112, 112), Image.Resampling.BILINEAR),
        ),
        # Ink in the alpha channel on a transparent background, as a canvas saves it.
        tmp_path / "canvas.png": (
            label_c,
            Image.fromarray(np.dstack([np.zeros_like(rgba)] * 3 + [rgba]), "RGBA"),
        ),
    }
    for path, (_, image) in files.items():
        image.save(path)
    result = _run("predict", *files, "--checkpoint", trained_run.checkpoint_path, "--json")
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert [a["path"] for a in answers] == [str(p) for p in files]
    for answer, (label, _) in zip(answers, files.values(), strict=True):
        assert answer["digit"] == label, answer
        assert len(answer["probabilities"]) == 10
        assert sum(answer["probabilities"]) == pytest.approx(1, abs=1e-4)
        assert answer["probabilities"][label] == max(answer["probabilities"])


def test_predict_text_output(trained_run, data_root: Path, tmp_path: Path) -> None:
    [(label, pixels)] = _confident_test_digits(trained_run.checkpoint_path, data_root, 1)
    Image.fromarray(pixels, "L").save(tmp_path / "digit.png")
    Image.new("L", (40, 40), 255).save(tmp_path / "blank.png")
    result = _run(
        "predict", tmp_path / "digit.png", tmp_path / "blank.png", "--checkpoint", trained_run.checkpoint_path
    )
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.strip().splitlines()
    assert first.startswith(f"{tmp_path / 'digit.png'}: {label} (")
    assert "blank" in second and "no digit" in second


# Bad arguments: each case is (argv, text the one-line message must contain). Paths with
# {ckpt}, {corrupt}, {text}, {empty} are filled in below.
BAD_ARGUMENTS = {
    "lr 0": (["train", "--lr", "0"], "lr"),
    "lr abc": (["train", "--lr", "abc"], "--lr"),
    "lr nan": (["train", "--lr", "nan"], "lr"),
    "momentum 1": (["train", "--momentum", "1"], "momentum"),
    "epochs 0": (["train", "--epochs", "0"], "epochs"),
    "epochs abc": (["train", "--epochs", "abc"], "--epochs"),
    "batch size too big": (["train", "--train-limit", "100", "--batch-size", "200"], "--batch-size: must be"),
    "device tpu": (["train", "--device", "tpu"], "tpu"),
    "device cuda": (["train", "--device", "cuda"], "CUDA"),
    "unknown flag": (["train", "--learning-rate", "0.1"], "--learning-rate"),
    "no command": ([], "command"),
    "no data": (["train", "--data-root", "{empty}", "--epochs", "1"], "MNIST was not found"),
    "missing checkpoint": (["evaluate", "--checkpoint", "{empty}/nope.pt"], "no checkpoint file"),
    "corrupt checkpoint": (["evaluate", "--checkpoint", "{corrupt}"], "not a readable checkpoint"),
    "foreign checkpoint": (["predict", "{text}", "--checkpoint", "{text}"], "not a readable checkpoint"),
    "unreadable image": (["predict", "{text}", "--checkpoint", "{ckpt}"], "not a readable image"),
    "missing image": (["predict", "{empty}/nope.png", "--checkpoint", "{ckpt}"], "no image file"),
}


# These two run as real processes (the entry point's own exit code and stderr); the others call main()
# in this process, which is the same code without the two seconds each process spends importing torch.
IN_A_PROCESS = ("no command", "no data")


@pytest.fixture(scope="module")
def bad_argument_results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every bad command line's exit code, stdout and stderr."""
    folder = tmp_path_factory.mktemp("bad-args")
    empty = folder / "empty"
    empty.mkdir()
    # An untrained model's checkpoint is enough where the image is what is wrong.
    good = save_checkpoint(folder / "fresh.pt", TrainConfig(), build_model(1).state_dict(), epoch=0)
    corrupt = folder / "corrupt.pt"
    corrupt.write_bytes(good.read_bytes()[:5000])
    text = folder / "notes.png"
    text.write_text("not an image, not a checkpoint\n")
    paths = {"ckpt": good, "corrupt": corrupt, "text": text, "empty": empty}
    runs = folder / "runs"
    env = {"RESNET_MNIST_RUNS": str(runs), "RESNET_MNIST_CORES_LOCK": str(folder / "cores.lock")}

    def run(case: str, argv: list[str]) -> tuple[int, str, str]:
        args = [a.format(**paths) for a in argv]
        if case not in IN_A_PROCESS:
            return cli_in_this_process(args, env)
        done = subprocess.run(
            _command(*args), cwd=REPO, env={**_env(), **env}, capture_output=True, text=True, timeout=240, check=False
        )
        return done.returncode, done.stdout, done.stderr

    cases = {k: v for k, v in BAD_ARGUMENTS.items() if not (k == "device cuda" and torch.cuda.is_available())}
    with ThreadPoolExecutor(max_workers=len(IN_A_PROCESS)) as pool:
        processes = {case: pool.submit(run, case, cases[case][0]) for case in IN_A_PROCESS}
        results: dict = {case: run(case, argv) for case, (argv, _) in cases.items() if case not in IN_A_PROCESS}
        results |= {case: future.result() for case, future in processes.items()}
    results["_runs"] = runs
    return results


@pytest.mark.parametrize("case", list(BAD_ARGUMENTS))
def test_bad_arguments_exit_with_one_line(bad_argument_results: dict, case: str) -> None:
    if case not in bad_argument_results:
        pytest.skip("this machine has CUDA")
    returncode, stdout, stderr = bad_argument_results[case]
    expected = BAD_ARGUMENTS[case][1]
    assert returncode != 0
    assert "Traceback" not in stderr and "Traceback" not in stdout
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert expected in lines[0]
    assert lines[0].startswith(("error:", "python -m resnet_mnist"))


def test_bad_arguments_leave_no_run_folders(bad_argument_results: dict) -> None:
    runs = bad_argument_results["_runs"]
    assert not runs.exists() or list(runs.iterdir()) == []
