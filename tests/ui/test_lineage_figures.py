"""A branch's charts with its parent: the parent's records up to the branch point only, a line there, names as text."""

from __future__ import annotations

from resnet_mnist.ui.figures import accuracy_figure, loss_figure
from resnet_mnist.ui.figures.lineage import parent_curves
from resnet_mnist.ui.plain_text import escape_plotly

NAME = "<b>bold</b> [x](http://127.0.0.1:9/)"


def _metrics(epochs: int) -> dict[str, list[dict]]:
    batches = [
        {
            "epoch": e,
            "step": 10 * (e - 1) + b,
            "batch": b,
            "batches_per_epoch": 10,
            "loss": 2.3 / (e + b),
            "lr": 0.05,
            "momentum": 0.9,
        }
        for e in range(1, epochs + 1)
        for b in (1, 10)
    ]
    records = [
        {"epoch": e, "test_loss": 1 / e, "test_accuracy": 0.8 + e / 100, "correct": 0, "total": 1}
        for e in range(1, epochs + 1)
    ]
    return {"batches": batches, "epochs": records, "hparam_changes": []}


def test_the_parent_is_drawn_up_to_the_branch_point_with_a_line_there() -> None:
    parent = parent_curves(NAME, 2, _metrics(4))
    assert [e["epoch"] for e in parent.epochs] == [1, 2] and {b["epoch"] for b in parent.batches} == {1, 2}
    branch = _metrics(4)
    branch["batches"] = [b for b in branch["batches"] if b["epoch"] > 2]
    branch["epochs"] = [e for e in branch["epochs"] if e["epoch"] > 2]
    loss = loss_figure(branch["batches"], branch["epochs"], parent=parent).to_dict()
    accuracy = accuracy_figure(branch["epochs"], parent=parent).to_dict()
    for figure in (loss, accuracy):
        parents = [t for t in figure["data"] if t["name"].startswith("parent · ")]
        assert parents and all(max(t["x"]) <= 2 for t in parents)
        assert all(escape_plotly(NAME) in t["name"] and "<b>" not in t["name"] for t in parents)
        assert any(s["x0"] == 2 == s["x1"] for s in figure["layout"]["shapes"])
    accuracies = next(t for t in accuracy["data"] if t["name"] == "test accuracy")
    assert list(accuracies["x"]) == [3, 4]


def test_a_run_that_is_no_branch_draws_as_before() -> None:
    metrics = _metrics(2)
    plain = loss_figure(metrics["batches"], metrics["epochs"]).to_dict()
    assert not any(t.get("name", "").startswith("parent") for t in plain["data"])
