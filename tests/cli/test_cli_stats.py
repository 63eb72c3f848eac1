"""`train --seeds`, `compare` and `importance` as a person runs them: real processes on real small runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import cli_completed, cli_in_this_process
from seed_groups import copy_of

from resnet_mnist import RunStore, TrainConfig, run_training

REPO = Path(__file__).resolve().parents[2]
TINY = ("--epochs", 1, "--train-limit", 1000, "--test-limit", 500, "--momentum", 0.5, "--quiet")


def _run(*args: object, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "resnet_mnist", *map(str, args)]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_train_seeds_trains_a_group_and_json_gives_its_runs_and_spread(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    result = _run("train", *TINY, "--lr", 0.1, "--seeds", "1-3", "--json", "--runs-dir", runs)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)  # stdout holds the JSON alone; progress went to stderr
    assert "Run finished" in result.stderr
    store = RunStore(runs)
    recorded = {r.id: r for r in store.runs()}
    assert sorted(r["run_id"] for r in summary["runs"]) == sorted(recorded)
    assert [recorded[r["run_id"]].config.seed for r in summary["runs"]] == [1, 2, 3]  # in the order trained
    assert {r.group for r in recorded.values()} == {summary["group"]}
    finals = [recorded[r["run_id"]].final_accuracy for r in summary["runs"]]
    assert [r["final_accuracy"] for r in summary["runs"]] == finals
    assert summary["mean"] == pytest.approx(np.mean(finals))
    assert (summary["min"], summary["max"]) == (min(finals), max(finals))
    assert all(r["run_dir"] == str(runs / r["run_id"]) for r in summary["runs"])


def test_train_json_of_one_run(tmp_path: Path) -> None:
    result = _run("train", *TINY, "--json", "--runs-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    run = RunStore(tmp_path).get(summary["run_id"])
    assert summary["final_accuracy"] == run.final_accuracy and summary["best_accuracy"] == run.best_accuracy
    assert run.group is None


@pytest.mark.parametrize("seeds", ["1,x", "1,1", "0-40", "3-1", "1,9223372036854775808"])
def test_bad_seeds_are_one_line_and_train_nothing(tmp_path: Path, seeds: str) -> None:
    returncode, _, stderr = cli_in_this_process(
        ["train", *map(str, TINY), "--seeds", seeds, "--runs-dir", str(tmp_path / "runs")]
    )
    assert returncode == 2 and "--seed" in stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert not (tmp_path / "runs").exists()  # no run folder, not even the runs folder


@pytest.fixture(scope="module")
def grouped(seed_group_runs, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return copy_of(seed_group_runs, tmp_path_factory.mktemp("cli_compare") / "runs")


def test_compare_says_a_ten_times_larger_lr_is_beyond_noise(grouped) -> None:
    root, groups = grouped
    result = _run("compare", groups["slow"], groups["fast"], "--json", "--runs-dir", root)
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["verdict"] == "beyond noise" and (verdict["n_a"], verdict["n_b"]) == (3, 3)
    runs = RunStore(root).runs()
    mean = {g: np.mean([r.final_accuracy for r in runs if r.group == g]) for g in groups.values()}
    assert verdict["difference"] == pytest.approx(mean[groups["fast"]] - mean[groups["slow"]])
    low, high = verdict["interval"]
    assert 0 < low < verdict["difference"] < high
    assert "Welch" in verdict["method"]


def test_compare_says_other_seeds_of_one_recipe_are_within_noise_and_a_run_is_too_few(grouped) -> None:
    root, groups = grouped
    same = _run("compare", groups["slow"], groups["slow again"], "--runs-dir", root)
    assert same.returncode == 0, same.stderr
    assert "Within noise: B − A =" in same.stdout and "95% interval" in same.stdout
    one_run = next(r.id for r in RunStore(root).runs() if r.group == groups["fast"])
    single = json.loads(_run("compare", groups["slow"], one_run, "--json", "--runs-dir", root).stdout)
    assert single["verdict"] == "too few seeds" and single["interval"] is None and single["n_b"] == 1


def test_compare_names_what_it_cannot_find_in_one_line(grouped) -> None:
    root, groups = grouped
    result = cli_completed(["compare", groups["slow"], "g-20990101-000000-abcdef", "--runs-dir", root])
    assert result.returncode == 1
    assert result.stderr.strip() == "error: no group 'g-20990101-000000-abcdef' among the readable runs"


def test_importance_ranks_the_sweeps_settings_or_says_there_are_too_few(tmp_path: Path, data_root: Path) -> None:
    store = RunStore(tmp_path)
    rng = np.random.default_rng(0)
    for index in range(12):
        config = TrainConfig(
            epochs=1, lr=float(10 ** rng.uniform(-4, 0)), momentum=float(rng.uniform(0.45, 0.55)),
            train_limit=600, test_limit=300, device="cpu",
        )  # fmt: skip
        run_training(config, store.create(config, device="cpu", sweep="sweep-big"), data_root=str(data_root))
        if index < 4:  # the same first four trials as a sweep of its own: far too few
            run_training(config, store.create(config, device="cpu", sweep="sweep-small"), data_root=str(data_root))
    # main() in this process: the command's code without its imports (the tests above run real processes)
    big = json.loads(cli_completed(["importance", "sweep-big", "--json", "--runs-dir", tmp_path]).stdout)
    assert big["enough"] and big["trials"] == 12
    assert max(big["importance"], key=lambda n: big["importance"][n]["value"]) == "lr"
    for value in big["importance"].values():
        assert value["low"] <= value["value"] <= value["high"]
    small = cli_completed(["importance", "sweep-small", "--runs-dir", tmp_path])
    assert small.returncode == 0 and "Not enough trials: 4 scored, 11 needed to tell." in small.stdout
    missing = cli_completed(["importance", "sweep-none", "--runs-dir", tmp_path])
    assert missing.returncode == 1 and "no run of a sweep 'sweep-none'" in missing.stderr
