"""`python -m resnet_mnist teach` (or `finetune`, its older name) and `evaluate --handwriting`, run as people do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import cli_in_this_process
from test_cli import _run
from torchvision.datasets import MNIST

from resnet_mnist import RunStore, load_checkpoint
from resnet_mnist.handwriting.digits import read_set
from resnet_mnist.handwriting.scores import NothingToScoreError, score_run
from testdata.styled_handwriting import make_styled_folder


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """30 restyled MNIST test digits (from the end of the test set): small enough for k-fold."""
    test = MNIST(str(data_root), train=False)
    return make_styled_folder(tmp_path_factory.mktemp("hw") / "hw", test.data[-30:].numpy(), test.targets[-30:].numpy())


@pytest.mark.timeout(900)
def test_finetune_json_gives_the_new_checkpoint_and_before_after(trained_run, small_folder: Path, tmp_path: Path):
    runs = tmp_path / "runs"
    shutil.copytree(trained_run.path, runs / trained_run.id)
    result = _run(
        "finetune", "--from", trained_run.id, "--handwriting", small_folder, "--epochs", "1",
        "--mnist-images", "500", "--test-limit", "500", "--runs-dir", runs, "--device", "cpu", "--json",
        timeout=540,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # one object, nothing else on stdout
    assert report["state"] == "finished"
    assert report["parent"] == {"run": trained_run.id, "checkpoint": str(runs / trained_run.id / "checkpoint.pt"),
                                "epoch": 1}  # fmt: skip
    assert report["method"] == "kfold" and report["held_out"] == 30  # 30 < 40 digits: 4-fold cross-validation
    for key in ("handwriting_before", "handwriting_after", "mnist_before", "mnist_after"):
        assert 0.0 <= report[key] <= 1.0, key
    assert report["mnist_total"] == 500
    assert report["mnist_change"] == pytest.approx(report["mnist_after"] - report["mnist_before"])
    assert "warning" in report  # a sentence when MNIST fell more than half a point, else null
    assert load_checkpoint(report["checkpoint"]).epoch == 1
    run = RunStore(runs).get(report["run"])
    assert run.parent["run"] == trained_run.id
    assert run.teach["report"]["handwriting_after"] == report["handwriting_after"]
    assert len(run.teach["split"]["folds"]) == 4
    with pytest.raises(NothingToScoreError, match="fine-tuned on all 30"):  # k-fold's run trained on every digit
        score_run(run, read_set(small_folder))


def test_teach_is_the_command_and_finetune_its_older_name() -> None:
    code, teach, _ = cli_in_this_process(["teach", "--help"])
    assert code == 0 and "finetune" in teach  # the help says it
    code, old, _ = cli_in_this_process(["finetune", "--help"])
    assert code == 0
    assert old.split("options:")[1] == teach.split("options:")[1]  # the same command
    assert "teach" in cli_in_this_process(["--help"])[1]


def test_finetune_checks_its_inputs_before_making_a_run(trained_run, small_folder: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(trained_run.path, runs / trained_run.id)
    broken = tmp_path / "broken"
    shutil.copytree(small_folder, broken)
    (broken / "labels.csv").write_text("file,label\npage-0000.png,7\npage-0001.png,seven\n")
    cases = {
        "no such run": (["--from", "nope", "--handwriting", small_folder], "no checkpoint file at nope"),
        "bad label": (["--from", trained_run.id, "--handwriting", broken], "line 3 (page-0001.png)"),
        "no folder": (["--from", trained_run.id, "--handwriting", tmp_path / "x"], "no handwriting folder"),
        "bad holdout": (["--from", trained_run.id, "--handwriting", small_folder, "--holdout", "1.5"], "holdout"),
    }
    for case, (args, message) in cases.items():  # main() in this process: the command's code, not its imports
        code, _, stderr = cli_in_this_process(["finetune", *map(str, args), "--runs-dir", str(runs)])
        assert code != 0, case
        assert message in stderr and len(stderr.strip().splitlines()) == 1, (case, stderr)
    assert [p.name for p in runs.iterdir()] == [trained_run.id]  # no run folder was made


def test_evaluate_on_handwriting_gives_accuracy_and_mistakes(trained_run, small_folder: Path) -> None:
    result = _run("evaluate", "--checkpoint", trained_run.checkpoint_path, "--handwriting", small_folder, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["total"] == 30 and report["correct"] == 30 - len(report["mistakes"])
    assert report["accuracy"] == pytest.approx(report["correct"] / 30)
    labels = dict(line.split(",") for line in (small_folder / "labels.csv").read_text().splitlines()[1:])
    for mistake in report["mistakes"]:
        assert int(labels[mistake["file"]]) == mistake["label"] != mistake["predicted"]
    text = _run("evaluate", "--checkpoint", trained_run.checkpoint_path, "--handwriting", small_folder)
    assert f"Accuracy: {report['correct']}/30" in text.stdout
