"""Seed groups on disk: the id each run records (validated when read), seeds as typed, and the sides a
selection of runs stands for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import record_run

from resnet_mnist import RunStore, TrainConfig
from resnet_mnist.runs.groups import MAX_SEEDS, new_group_id, parse_seeds, resolve_side, sides_of
from resnet_mnist.runs.store import RunNotFoundError


def test_seeds_are_a_list_or_a_range() -> None:
    assert parse_seeds("1,2,3") == (1, 2, 3)
    assert parse_seeds("4-6") == (4, 5, 6)
    assert parse_seeds("1, 5-6") == (1, 5, 6)


@pytest.mark.parametrize("text", ["", "1,x", "1,1", f"1-{MAX_SEEDS + 1}", "-1", "3-1"])
def test_seeds_that_cannot_make_a_group_are_refused_in_a_sentence(text: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_seeds(text)
    assert str(refused.value) and "\n" not in str(refused.value)


def grouped_run(store: RunStore, group: str | None, seed: int, accuracy: float, lr: float = 0.01):
    info = record_run(store, [accuracy], config=TrainConfig(epochs=1, lr=lr, seed=seed))
    if group:  # what the recorder wrote, with the group the CLI and the worker pass to store.create
        path = info.path / "run.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "group": group}))
    return store.get(info.id)


def test_a_run_records_its_group_and_a_bad_group_makes_it_unreadable_naming_the_field(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    group = new_group_id()
    recorder = store.create(TrainConfig(epochs=1), device="cpu", extra={"group": group})
    recorder.close()
    assert store.get(recorder.run_id).group == group
    path = recorder.path / "run.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "group": "../elsewhere"}))
    with pytest.raises(ValueError, match="group"):
        store.get(recorder.run_id)
    path.write_text(json.dumps({**json.loads(path.read_text()), "group": 7}))
    with pytest.raises(ValueError, match="group"):
        store.get(recorder.run_id)


def test_a_ticked_run_of_a_group_brings_its_whole_group_and_labels_say_what_differs(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    slow, fast = new_group_id(), new_group_id() + "b"
    for seed, accuracy in ((1, 0.5), (2, 0.45), (3, 0.52)):
        grouped_run(store, slow, seed, accuracy)
        grouped_run(store, fast, seed, accuracy + 0.2, lr=0.1)
    alone = grouped_run(store, None, 9, 0.6, lr=0.05)
    runs = store.runs()
    one_of_slow = next(r for r in runs if r.group == slow)
    sides = sides_of([one_of_slow, alone, *[r for r in runs if r.group == fast]], runs)
    assert [s.key for s in sides] == [slow, alone.id, fast]
    assert [len(s.runs) for s in sides] == [3, 1, 3]
    assert sides[0].label == "lr=0.01 (seeds 1,2,3)" and sides[2].label == "lr=0.1 (seeds 1,2,3)"
    assert sorted(sides[2].final_accuracies) == pytest.approx([0.65, 0.7, 0.72])
    assert resolve_side(fast, runs).key == fast and resolve_side(alone.id, runs).runs == (alone,)
    with pytest.raises(RunNotFoundError, match="no group"):
        resolve_side("g-20990101-000000-abcdef", runs)


def test_groups_whose_settings_round_alike_are_told_apart_by_their_ids(runs_dir: Path) -> None:
    """Labels write settings to three significant digits: lr 0.05637 and 0.05641 both read 0.0564, so the two
    groups' labels (the verdict's A and B, the bands' legend) add their ids rather than look the same."""
    store = RunStore(runs_dir)
    first, second = new_group_id(), new_group_id() + "c"
    for seed in (1, 2):
        grouped_run(store, first, seed, 0.9, lr=0.05637)
        grouped_run(store, second, seed, 0.91, lr=0.05641)
    runs = store.runs()
    sides = sides_of([r for r in runs if r.group == first][:1] + [r for r in runs if r.group == second][:1], runs)
    assert [s.label for s in sides] == [f"lr=0.0564 (seeds 1,2) · {first}", f"lr=0.0564 (seeds 1,2) · {second}"]
