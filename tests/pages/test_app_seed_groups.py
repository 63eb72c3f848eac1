"""The Runs page on seed groups, through AppTest on real small runs: Compare's bands and verdict, Manage's
Repeat with 3 seeds, and the Sweep tab's Which setting mattered."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from helpers import open_app_page, record_run, rerun_until, the_page_worker, wait_for
from seed_groups import SLOW, copy_of
from streamlit.testing.v1 import AppTest

from resnet_mnist import RunState, RunStore, run_training


@pytest.fixture(scope="module")
def made_runs(
    seed_group_runs, tmp_path_factory: pytest.TempPathFactory, data_root: Path
) -> tuple[Path, dict[str, str]]:
    """Three seed groups (lr 0.01 twice, over other seeds, and lr 0.1), one lone run, and two sweeps' trials."""
    root, groups = copy_of(seed_group_runs, tmp_path_factory.mktemp("app_groups") / "runs")
    store = RunStore(root)
    record_run(store, [0.5], name="lone run", config=SLOW)
    rng = np.random.default_rng(0)
    for index in range(12):
        config = SLOW.with_changes(
            lr=float(10 ** rng.uniform(-4, 0)), momentum=float(rng.uniform(0.45, 0.55)), train_limit=600, test_limit=300
        )
        for sweep in ("sweep-20261205-000001-big",) + (("sweep-20261205-000002-small",) if index < 4 else ()):
            run_training(config, store.create(config, device="cpu", sweep=sweep), data_root=str(data_root))
    return root, groups


@pytest.fixture
def runs(made_runs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[RunStore, dict[str, str]]:
    root, groups = made_runs
    copy = Path(shutil.copytree(root, tmp_path / "runs"))
    monkeypatch.setenv("RESNET_MNIST_RUNS", str(copy))
    return RunStore(copy), groups


@pytest.fixture
def open_page(data_root: Path) -> Iterator:
    yield lambda **state: open_app_page("pages/runs.py", **state)
    the_page_worker().stop(timeout=60)
    st.cache_resource.clear()


def charts(at: AppTest) -> dict[str, dict]:
    return {chart.proto.id: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def member(store: RunStore, group: str):
    return next(r for r in store.runs() if r.group == group)


def test_compare_draws_each_group_as_its_mean_over_a_min_max_band(open_page, runs) -> None:
    store, groups = runs
    at = open_page(compare_ids=[member(store, groups["slow"]).id, member(store, groups["fast"]).id])
    accuracy = next(s for s in charts(at).values() if s["layout"]["title"]["text"].startswith("test accuracy"))
    bands = [t for t in accuracy["data"] if t.get("fill") == "toself"]
    means = [t for t in accuracy["data"] if t.get("mode") == "lines+markers"]
    assert len(bands) == 2 and len(means) == 2
    assert [t["name"] for t in means] == ["lr=0.01 (seeds 1,2,3) · mean of 3", "fast (seeds 1,2,3) · mean of 3"]
    for trace, group in zip(means, (groups["slow"], groups["fast"]), strict=True):
        finals = [r.final_accuracy for r in store.runs() if r.group == group]
        assert trace["y"] == pytest.approx([np.mean(finals)])
        band = next(b for b in bands if b["name"].startswith(trace["name"]))
        assert sorted(band["y"]) == pytest.approx([min(finals), max(finals)])


def test_compare_says_a_larger_lr_is_beyond_noise_and_other_seeds_are_within(open_page, runs) -> None:
    store, groups = runs
    at = open_page(compare_ids=[member(store, groups[g]).id for g in ("slow", "fast", "slow again")])
    assert at.selectbox(key="verdict_a").value == groups["slow"]
    assert at.selectbox(key="verdict_b").value == groups["fast"]
    assert len(at.success) == 1 and at.success[0].value.startswith("**Beyond noise: B − A = +")
    assert "95% interval [+" in at.success[0].value
    assert any("Welch's t-test over seeds" in c.value for c in at.caption)
    assert at.selectbox(key="verdict_b").options == [  # the ticked sides, labelled as the charts label them
        "lr=0.01 (seeds 1,2,3)",
        "fast (seeds 1,2,3)",
        "lr=0.01 (seeds 4,5,6)",
    ]
    at.selectbox(key="verdict_b").set_value(groups["slow again"]).run()
    assert not at.exception and not at.success
    assert any(i.value.startswith("**Within noise: B − A =") for i in at.info)


def test_with_nothing_ticked_the_verdict_picks_among_every_group(open_page, runs) -> None:
    at = open_page()
    labels = {"lr=0.01 (seeds 1,2,3)", "fast (seeds 1,2,3)", "lr=0.01 (seeds 4,5,6)"}  # lr is what the groups vary
    assert labels <= set(at.selectbox(key="verdict_a").options)
    assert not at.get("plotly_chart") or "chart_accuracy" not in str([c.proto.id for c in at.get("plotly_chart")])


def test_a_lone_run_gets_too_few_seeds_and_says_how_to_get_more(open_page, runs) -> None:
    store, groups = runs
    lone = next(r for r in store.runs() if r.name == "lone run")
    at = open_page(compare_ids=[lone.id, member(store, groups["fast"]).id])
    note = next(i.value for i in at.info if "Too few seeds" in i.value)
    assert "B − A = +" in note and "at least 2 seeds" in note and "Repeat with 3 seeds" in note


def test_repeat_with_three_seeds_trains_the_runs_recipe_as_a_group(open_page, runs) -> None:
    store, _ = runs
    lone = next(r for r in store.runs() if r.name == "lone run")
    at = open_page(runs_tab="Manage", manage_run=lone.id)
    at.button(key="repeat_seeds").click().run()
    assert not at.exception
    assert any("Seed group g-" in s.value and "seeds 1, 2, 3" in s.value for s in at.success)
    wait_for(the_page_worker(), lambda s: s.state.is_final and s.about is not None and "(3 of 3)" in s.about)
    the_page_worker().join(60)
    group = [r for r in store.runs() if r.name.startswith("lone run · seed")]
    assert sorted(r.config.seed for r in group) == [1, 2, 3] and len({r.group for r in group}) == 1
    assert all(r.config.with_changes(seed=1) == lone.config.with_changes(seed=1) for r in group)
    assert all(r.state is RunState.FINISHED for r in group)


def test_the_sweep_tab_ranks_the_settings_or_says_there_are_too_few_trials(open_page, runs) -> None:
    at = open_page(runs_tab="Sweep")
    assert at.selectbox(key="importance_sweep").value == "sweep-20261205-000002-small"
    assert any(i.value == "Not enough trials: 4 scored, 11 needed to tell." for i in at.info)
    assert "sweep_importance" not in str([c.proto.id for c in at.get("plotly_chart")])
    at.selectbox(key="importance_sweep").set_value("sweep-20261205-000001-big").run()
    assert not at.exception
    bars = next(s for s in charts(at).values() if s["data"][0]["type"] == "bar")
    assert bars["data"][0]["y"] == ["lr", "momentum"]
    value, error = bars["data"][0]["x"], bars["data"][0]["error_x"]
    assert value[0] > value[1] and value[0] + value[1] == pytest.approx(1.0)
    assert all(v >= 0 for v in error["array"] + error["arrayminus"])  # each interval holds its value
    assert any(m.value.startswith("**lr** mattered most") and "12 trials" in m.value for m in at.markdown)


def test_the_train_page_says_which_seed_of_the_group_is_training(runs, data_root: Path) -> None:
    at = open_app_page("pages/train.py")
    try:
        group = the_page_worker().start_group(SLOW.with_changes(epochs=3, train_limit=3000), (7, 8), name="pair")
        rerun_until(at, lambda s: s.about is not None and s.epoch >= 1)
        assert f"Seed 7 (1 of 2) of seed group {group}" in [t.value for t in at.text]
    finally:
        the_page_worker().stop(timeout=60)
        st.cache_resource.clear()
