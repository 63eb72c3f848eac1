"""`python -m resnet_mnist export` as a person runs it: a real process, a real small run, all of MNIST's test digits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from helpers import cli_in_this_process, train_fp32_run

from resnet_mnist import load_checkpoint, load_split
from resnet_mnist.core.data import MNIST_MEAN, MNIST_STD, MNIST_TEST_SIZE
from resnet_mnist.runs.checkpoint import save_checkpoint

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str | Path, runs: Path, data_root: Path) -> subprocess.CompletedProcess[str]:
    # The data folder is passed, not inherited: a module fixture's commands run before the per-test environment.
    env = {**os.environ, "PYTHONPATH": str(REPO), "RESNET_MNIST_RUNS": str(runs), "RESNET_MNIST_DATA": str(data_root)}
    return subprocess.run(
        [sys.executable, "-m", "resnet_mnist", *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def fp32_run(tmp_path_factory: pytest.TempPathFactory, data_root: Path):
    return train_fp32_run(tmp_path_factory.mktemp("cli-export") / "runs", data_root)


def test_export_json_on_a_run_id_checks_all_10000_digits_and_matches_evaluate(
    fp32_run, data_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "model.onnx"
    runs = fp32_run.path.parent
    result = _run("export", fp32_run.id, "--format", "onnx", "--out", out, "--json", runs=runs, data_root=data_root)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["path"] == str(out) and report["format"] == "onnx" and report["bytes"] == out.stat().st_size
    assert report["source"] == fp32_run.id and report["checkpoint"] == str(fp32_run.checkpoint_path)
    assert report["checked_digits"] == MNIST_TEST_SIZE and report["agreement"] == 1.0
    assert 0 <= report["max_abs_diff"] <= report["tolerance"] == 1e-4
    evaluated = _run("evaluate", "--checkpoint", fp32_run.checkpoint_path, "--json", runs=runs, data_root=data_root)
    assert evaluated.returncode == 0, evaluated.stderr
    assert report["accuracy"] == report["checkpoint_accuracy"] == json.loads(evaluated.stdout)["accuracy"]


def test_export_of_a_checkpoint_path_writes_a_file_onnxruntime_reads_as_the_checkpoint(
    fp32_run, data_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "from-path.onnx"
    result = _run("export", fp32_run.checkpoint_path, "--out", out, runs=tmp_path / "no-runs", data_root=data_root)
    assert result.returncode == 0, result.stderr
    assert f"Wrote {out}" in result.stdout and "on 10,000 of 10,000 MNIST test digits" in result.stdout
    split = load_split(data_root, train=False, limit=200)
    pixels = np.round((split.images.numpy() * MNIST_STD + MNIST_MEAN) * 255) / 255  # (200, 1, 28, 28): bytes / 255
    log_probs = ort.InferenceSession(out.read_bytes()).run(None, {"image": pixels.astype(np.float32)})[0]
    expected = load_checkpoint(fp32_run.checkpoint_path).build_model()(split.images).argmax(dim=1).numpy()
    assert (log_probs.argmax(axis=1) == expected).all()


BAD = {
    "unknown run": (["export", "20990101-000000-abcdef", "--out", "{tmp}/a.onnx"], "no run '20990101-000000-abcdef'"),
    "out is a folder": (["export", "{run}", "--out", "{tmp}"], "it is a folder"),
    "out under a file": (["export", "{run}", "--out", "{tmp}/notes.txt/a.onnx"], "is a file, not a folder"),
    "out in a missing folder": (["export", "{run}", "--out", "{tmp}/nowhere/a.onnx"], "does not exist"),
    "unknown format": (["export", "{run}", "--format", "tflite", "--out", "{tmp}/a.onnx"], "invalid choice: 'tflite'"),
    "no --out": (["export", "{run}"], "the following arguments are required: --out"),
    "outputs not finite": (["export", "{huge}", "--out", "{tmp}/a.onnx"], "NaN or infinite on 10,000 of 10,000"),
}


@pytest.fixture(scope="module")
def bad_results(fp32_run, data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every bad command line, two at a time; `_tmp` is the folder each was told to write in."""
    tmp = tmp_path_factory.mktemp("bad-export")
    (tmp / "notes.txt").write_text("a file, not a folder\n")
    checkpoint = load_checkpoint(fp32_run.checkpoint_path)
    huge = {key: value * 1e30 for key, value in checkpoint.state_dict.items()}  # finite, but overflows inside
    save_checkpoint(tmp / "huge.pt", checkpoint.config, huge, epoch=1)
    names = {"tmp": tmp, "run": fp32_run.id, "huge": tmp / "huge.pt"}

    # main() in this process: the same code as the command, without ~2 s of imports a case (the two tests
    # above run the command as a process)
    env = {"RESNET_MNIST_RUNS": str(fp32_run.path.parent), "RESNET_MNIST_DATA": str(data_root)}
    results = {case: cli_in_this_process([a.format(**names) for a in argv], env) for case, (argv, _) in BAD.items()}
    return {"_tmp": tmp, **results}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_writes_nothing(bad_results: dict, case: str) -> None:
    returncode, stdout, stderr = bad_results[case]
    assert returncode != 0
    assert "Traceback" not in stderr and stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert BAD[case][1] in lines[0]
    assert sorted(p.name for p in bad_results["_tmp"].iterdir()) == ["huge.pt", "notes.txt"]  # no .onnx, no temp
