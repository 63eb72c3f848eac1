"""A fine-tune's `parent` and `teach` in run.json are typed at the boundary like the rest of the file: a wrong
type anywhere inside them makes the run unreadable, naming the field, and no page raises on it (before, a
`"teach": {"split": "x"}` passed as a free dict and Runs and My digits raised from `trained_on`). What this
app wrote in earlier versions still reads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import open_app_page, record_run
from torchvision.datasets import MNIST

from resnet_mnist import RunStore
from resnet_mnist.runs.store import UnreadableRun
from testdata.styled_handwriting import make_styled_folder

# run.json's fine-tune fields as handwriting/teach.py has written them since fine-tunes began (a36b116):
# no `mix` yet, the report filled in once the fine-tune was measured.
PARENT = {"run": "20200101-000000-000001", "checkpoint": "runs/20200101-000000-000001/checkpoint.pt", "epoch": 1}
TEACH = {
    "handwriting": "handwriting",
    "fingerprint": "ab" * 32,
    "split": {
        "method": "fixed",
        "train": ["a.png", "b.png", "c.png"],
        "held_out": ["d.png"],
        "folds": [],
        "trained_sha256": ["cd" * 32, "ef" * 32],
    },
    "settings": {
        "epochs": 3,
        "holdout": 0.25,
        "lr": 0.01,
        "momentum": 0.9,
        "mnist_images": 3000,
        "handwriting_share": 0.25,
        "test_limit": None,
        "device": "auto",
    },
    "report": {
        "state": "finished",
        "method": "fixed",
        "held_out": 1,
        "handwriting_before": 0.0,
        "handwriting_after": 1.0,
        "mnist_before": 0.98,
        "mnist_after": 0.97,
        "mnist_total": 10000,
        "reason": None,
    },
}

# (what is wrong, a change to the fields above, the field the problem names)
BROKEN = [
    ("split as text", ("teach", "split", "x"), "teach.split"),
    ("trained hashes as one string", ("teach", "split", {**TEACH["split"], "trained_sha256": "cd"}), "teach.split"),
    ("a train file as a number", ("teach", "split", {**TEACH["split"], "train": [1]}), "teach.split.train.0"),
    ("report accuracy as text", ("teach", "report", {**TEACH["report"], "mnist_after": "0.9"}), "teach.report"),
    ("report accuracy as a percent", ("teach", "report", {**TEACH["report"], "handwriting_after": 97}), "teach.report"),
    ("settings holdout as text", ("teach", "settings", {**TEACH["settings"], "holdout": "0.2"}), "teach.settings"),
    ("mix share above 1", ("teach", "mix", {"handwriting_share": 1.5}), "teach.mix.handwriting_share"),
    ("teach as a list", ("teach", None, [1, 2]), "teach"),
    ("parent run as a number", ("parent", "run", 5), "parent.run"),
    ("parent epoch negative", ("parent", "epoch", -1), "parent.epoch"),
]


def _fine_tune(store: RunStore, change: tuple[str, str | None, object] | None = None, name: str = "") -> str:
    """A finished run whose run.json carries a fine-tune's fields (as the app writes them), with `change` made."""
    run_id = record_run(store, name=name).id
    fields = {"parent": dict(PARENT), "teach": json.loads(json.dumps(TEACH))}
    if change is not None:
        key, inner, value = change
        if inner is None:
            fields[key] = value
        else:
            fields[key][inner] = value
    run_file = store.root / run_id / "run.json"
    run_file.write_text(json.dumps({**json.loads(run_file.read_text()), **fields}))
    return run_id


@pytest.mark.parametrize(("change", "field"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_a_wrongly_typed_fine_tune_field_makes_the_run_unreadable_naming_it(
    runs_dir: Path, change: tuple, field: str
) -> None:
    store = RunStore(runs_dir)
    run_id = _fine_tune(store, change)
    [entry] = [e for e in store.list_runs() if e.id == run_id]
    assert isinstance(entry, UnreadableRun), entry
    assert entry.problem.startswith(f"unreadable: run.json: {field}"), entry.problem


def test_fine_tunes_as_this_app_wrote_them_still_read(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    finished = _fine_tune(store)
    started = _fine_tune(store, ("teach", "report", None))  # before it was measured (or killed then)
    with_mix = _fine_tune(store, ("teach", "mix", {"handwriting_images": 3, "mnist_images": 3000,
                                                   "handwriting_share": 0.001}))  # fmt: skip
    checkpoint_parent = _fine_tune(store, ("parent", "run", None))  # fine-tuned from a checkpoint file
    assert store.get(finished).teach == TEACH and store.get(finished).parent == PARENT  # read as written
    assert store.get(started).teach["report"] is None
    assert store.get(with_mix).teach["mix"]["mnist_images"] == 3000
    assert store.get(checkpoint_parent).parent["run"] is None
    assert all(not isinstance(e, UnreadableRun) for e in store.list_runs())


@pytest.fixture
def handwriting(data_root: Path) -> Path:
    test = MNIST(str(data_root), train=False)
    root = Path(os.environ["RESNET_MNIST_HANDWRITING"])  # this test's own folder (conftest)
    return make_styled_folder(root, test.data[-12:].numpy(), test.targets[-12:].numpy())


def test_runs_and_my_digits_stay_up_and_list_a_fine_tune_with_a_wrong_split(
    runs_dir: Path, data_root: Path, handwriting: Path
) -> None:
    store = RunStore(runs_dir)
    good = _fine_tune(store, name="good fine-tune")
    bad = _fine_tune(store, ("teach", "split", "x"), name="bad fine-tune")  # the newest: My digits' first pick
    for tab in ("Compare", "Evaluate", "Manage"):
        runs_page = open_app_page("pages/runs.py", runs_tab=tab)
        table = runs_page.dataframe[1].value
        problems = dict(zip(table["folder"], table["problem"], strict=True))
        assert problems[bad].startswith("unreadable: run.json: teach.split: "), problems
        assert list(runs_page.dataframe[0].value["id"]) == [good]
    my_digits = open_app_page("pages/my_digits.py")  # scores the picked run on the digits (trained_on)
    assert my_digits.selectbox(key="teach_run").value == good
    assert not my_digits.exception and not my_digits.error, [e.value for e in my_digits.error]
