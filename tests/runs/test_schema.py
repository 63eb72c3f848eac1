"""Files that are well-formed but wrong: each is validated once (resnet_mnist/runs/schema.py) and a bad one
makes its run "unreadable: <file>: <field>: <problem>" in the Runs page's list of broken folders,
never a page raising; formats from older or newer versions are read."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from helpers import QUICK, cli_completed, open_app_page, record_run

from resnet_mnist import Net, RunStore, load_checkpoint, load_split
from resnet_mnist.core.events import RunState, StateChanged
from resnet_mnist.runs.checkpoint import CHECKPOINT_FORMAT, CheckpointError
from resnet_mnist.runs.evaluation import evaluate_run
from resnet_mnist.runs.schema import SchemaError, dumps_json
from resnet_mnist.runs.store import RunInfo, UnreadableRun
from resnet_mnist.sweeps.spec import Axis, SweepSpec

REPO = Path(__file__).resolve().parents[2]

# (what is wrong, how run.json changes, the field the problem names)
BROKEN_RUN_FILES = [
    ("lr as text", {"config": {"lr": "0.05"}}, "config.lr"),
    ("config as a list", {"config": [1, 2]}, "config"),
    ("final accuracy as text", {"final_accuracy": "0.9"}, "final_accuracy"),
    ("best accuracy above 1", {"best_accuracy": 97.5}, "best_accuracy"),
    ("tags as one string", {"tags": "a,b"}, "tags"),
    ("unknown state", {"state": "exploded"}, "state"),
    ("epochs a fraction", {"config": {"epochs": 1.5}}, "config.epochs"),
    ("lr beyond float32", {"config": {"lr": 1e39}}, "config.lr"),
    ("name a number", {"name": 5}, "name"),
    ("name too long for the page", {"name": "x" * 101}, "name"),
    ("duration negative", {"duration_seconds": -1}, "duration_seconds"),
]


def _rewrite(run_file: Path, change: dict) -> None:
    data = json.loads(run_file.read_text())
    for key, value in change.items():
        if key == "config" and isinstance(value, dict):
            data["config"].update(value)
        else:
            data[key] = value
    run_file.write_text(json.dumps(data))


@pytest.fixture
def store(runs_dir: Path) -> RunStore:
    return RunStore(runs_dir)


@pytest.mark.parametrize(("change", "field"), [c[1:] for c in BROKEN_RUN_FILES], ids=[c[0] for c in BROKEN_RUN_FILES])
def test_a_wrongly_typed_run_file_makes_that_run_unreadable_naming_the_field(
    store: RunStore, change: dict, field: str
) -> None:
    good, bad = record_run(store, name="good").id, record_run(store, name="bad").id
    _rewrite(store.root / bad / "run.json", change)
    entries = {e.id: e for e in store.list_runs()}
    assert isinstance(entries[good], RunInfo)
    assert isinstance(entries[bad], UnreadableRun)
    assert entries[bad].problem.startswith(f"unreadable: run.json: {field}: "), entries[bad].problem
    assert "\n" not in entries[bad].problem
    assert [r.id for r in store.runs()] == [good]
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        store.get(bad)


def test_non_finite_numbers_in_a_run_file_make_it_unreadable(store: RunStore) -> None:
    run_id = record_run(store).id
    path = store.root / run_id / "run.json"
    path.write_text(path.read_text().replace('"final_accuracy": 0.9', '"final_accuracy": NaN'))
    [entry] = store.list_runs()
    assert isinstance(entry, UnreadableRun)
    assert entry.problem.startswith("unreadable: run.json: final_accuracy: input should be a finite number")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"batches": [{"epoch": 1, "step": 1, "loss": "2.3"}]}, "batches.0.loss"),
        ({"epochs": {"1": 0.9}}, "epochs"),
        ({"epochs": [{"epoch": 1, "test_accuracy": 1.5}]}, "epochs.0.test_accuracy"),
        ({"hparam_changes": [{"epoch": 1, "step": 3, "lr": "fast", "momentum": 0.9}]}, "hparam_changes.0.lr"),
    ],
)
def test_a_damaged_metrics_file_makes_that_run_unreadable_naming_the_field(
    store: RunStore, change: dict, field: str
) -> None:
    run_id = record_run(store).id
    path = store.root / run_id / "metrics.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    [entry] = store.list_runs()
    assert isinstance(entry, UnreadableRun)
    assert entry.problem.startswith(f"unreadable: metrics.json: {field}: "), entry.problem
    assert store.metrics(run_id) == {"batches": [], "epochs": [], "hparam_changes": []}


def test_older_and_newer_run_formats_are_read(store: RunStore) -> None:
    older = store.root / "20200101-000000-000001"  # an early version: only state and a partial config
    older.mkdir()
    (older / "run.json").write_text(json.dumps({"state": "finished", "config": {"lr": 0.05, "epochs": 2}}))
    newer = store.root / "20300101-000000-000002"  # a later version: fields this one does not know
    newer.mkdir()
    (newer / "run.json").write_text(
        json.dumps(
            {
                "state": "stopped",
                "config": {**QUICK.to_dict(), "optimizer": "adamw", "warmup": 3},
                "final_accuracy": 0.5,
                "colour": "blue",
                "owner": {"name": "x"},
            }
        )
    )
    (newer / "metrics.json").write_text(json.dumps({"epochs": [{"epoch": 1, "test_accuracy": 0.5, "f1": 0.4}]}))
    runs = {r.id: r for r in store.runs()}
    assert runs[older.name].config.lr == 0.05 and runs[older.name].config.batch_size == 64  # defaulted
    assert runs[older.name].name == "" and runs[older.name].tags == () and runs[older.name].final_accuracy is None
    assert runs[newer.name].config == QUICK and runs[newer.name].final_accuracy == 0.5
    assert store.metrics(newer.name)["epochs"][0]["test_accuracy"] == 0.5


def test_a_fine_tunes_parent_and_teach_fields_are_read_and_validated(store: RunStore) -> None:
    parent = {"run": "20200101-000000-000001", "checkpoint": "x/checkpoint.pt", "epoch": 2}
    recorder = store.create(QUICK, device="cpu", extra={"parent": parent, "teach": {"report": None}})
    recorder(StateChanged(RunState.RUNNING))
    recorder(StateChanged(RunState.FINISHED))  # the final state lets go of the writer lock
    store.rename(recorder.run_id, "renamed after it ended")
    recorder.annotate("teach", {"report": {"mnist_after": 0.5}})  # measured after training, as a fine-tune is
    run = store.get(recorder.run_id)
    assert run.parent == parent and run.teach == {"report": {"mnist_after": 0.5}}
    assert run.name == "renamed after it ended"  # the late annotation merges, it does not write over the edit
    plain = record_run(store).id
    assert store.get(plain).parent is None and store.get(plain).teach is None
    _rewrite(store.root / plain / "run.json", {"parent": ["not", "a", "dict"]})
    [entry] = [e for e in store.list_runs() if e.id == plain]
    assert isinstance(entry, UnreadableRun) and entry.problem.startswith("unreadable: run.json: parent: ")


def test_a_run_trained_on_a_device_missing_here_is_still_readable(store: RunStore) -> None:
    run_id = record_run(store).id
    _rewrite(store.root / run_id / "run.json", {"config": {"device": "cuda"}, "device": "cuda:0"})
    assert store.get(run_id).config.device == "cuda"


def test_every_page_stays_up_with_broken_run_files_and_the_runs_page_lists_each(
    runs_dir: Path, data_root: Path
) -> None:
    store = RunStore(runs_dir)
    good = record_run(store, name="good").id
    broken = {}
    for what, change, field in BROKEN_RUN_FILES[:4]:
        broken[record_run(store, name=what).id] = field
        _rewrite(store.root / list(broken)[-1] / "run.json", change)
    damaged_metrics = record_run(store, name="damaged metrics").id
    (store.root / damaged_metrics / "metrics.json").write_text(json.dumps({"batches": [{"epoch": "1"}]}))
    broken[damaged_metrics] = "batches.0.epoch"
    load_split(data_root, train=False)

    home = open_app_page("pages/home.py")
    assert any("good" in c.value for c in home.caption)
    draw = open_app_page("pages/draw.py")
    assert draw.selectbox(key="draw_run_select").options == [draw.selectbox(key="draw_run_select").format_func(good)]
    for tab, state in (("Compare", {"compare_ids": [good, *broken]}), ("Evaluate", {}), ("Manage", {})):
        runs_page = open_app_page("pages/runs.py", runs_tab=tab, **state)
        table = runs_page.dataframe[1].value
        problems = dict(zip(table["folder"], table["problem"], strict=True))
        assert set(problems) == set(broken)
        for run_id, field in broken.items():
            assert f": {field}: " in problems[run_id] and problems[run_id].startswith("unreadable: ")
        assert list(runs_page.dataframe[0].value["id"]) == [good]


def test_a_checkpoint_whose_config_is_wrongly_typed_is_refused_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "odd.pt"
    config = {**QUICK.to_dict(), "lr": "0.05"}
    torch.save({"format": CHECKPOINT_FORMAT, "config": config, "state_dict": Net().state_dict(), "epoch": 1}, path)
    with pytest.raises(CheckpointError, match=r"odd\.pt: config\.lr: input should be a valid number"):
        load_checkpoint(path)
    result = cli_completed(["predict", REPO / "docs" / "screenshots" / "draw.png", "--checkpoint", path])
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "config.lr" in result.stderr and "Traceback" not in result.stderr


def test_a_checkpoints_metrics_and_epoch_are_validated(tmp_path: Path) -> None:
    base = {"format": CHECKPOINT_FORMAT, "config": QUICK.to_dict(), "state_dict": Net().state_dict()}
    for extra, words in (
        ({"metrics": {"epochs": [{"epoch": 1, "test_accuracy": "high"}]}}, r"metrics\.epochs\.0\.test_accuracy: "),
        ({"epoch": -3}, "epoch must be a whole number"),
        ({"metrics": {"epochs": [{"epoch": 1, "test_accuracy": torch.tensor(0.5)}]}}, "not plain numbers"),
    ):
        buffer = io.BytesIO()
        torch.save({**base, **extra}, buffer)
        with pytest.raises(CheckpointError, match=words):
            load_checkpoint(io.BytesIO(buffer.getvalue()), name="x.pt")


def test_a_wrong_but_well_formed_evaluation_cache_is_recomputed(store: RunStore, data_root: Path) -> None:
    run = record_run(store)
    first = evaluate_run(run, data_root=data_root, test_limit=100)
    assert not first.from_cache and evaluate_run(run, data_root=data_root, test_limit=100).from_cache
    cache = run.path / "evaluation.json"
    good = json.loads(cache.read_text())
    wrong_index = [{**good["misclassified"][0], "index": 10**6}, *good["misclassified"][1:]]
    damages = ({"confusion": [["1"] * 10] * 10}, {"correct": good["correct"] + 1}, {"loss": "low"})
    for damage in (*damages, {"misclassified": wrong_index}):
        cache.write_text(json.dumps({**good, **damage}))
        again = evaluate_run(run, data_root=data_root, test_limit=100)
        assert not again.from_cache and again.correct == first.correct


def test_a_sweep_spec_is_validated_naming_the_field() -> None:
    spec = SweepSpec(space={"lr": Axis(values=(0.01, 0.05)), "momentum": Axis(low=0.5, high=0.9)}, samples=2)
    assert SweepSpec.from_dict({**spec.to_dict(), "from_a_newer_version": 1}) == spec  # newer keys ignored
    for data, field in (
        ({"space": {"lr": {"values": ["0.1"]}}}, "space.lr.values.0"),
        ({"space": {"precision": {"values": ["fp32", 16]}}}, "space.precision.values.1"),
        ({"space": {"lr": 0.1}}, "space.lr"),
        ({"samples": "4"}, "samples"),
        ({"base": {"momentum": "high"}}, "base.momentum"),
    ):
        with pytest.raises(SchemaError, match=rf"sweep spec: {field.replace('.', chr(92) + '.')}: "):
            SweepSpec.from_dict({**spec.to_dict(), **data})


def test_json_written_by_the_app_never_holds_nan_or_infinity() -> None:
    text = dumps_json({"loss": float("nan"), "values": [1.0, float("inf"), -float("inf")], "ok": 0.5})
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}")) == {
        "loss": None,
        "values": [1.0, None, None],
        "ok": 0.5,
    }
