"""A sweep's id carries its name (issue 25.6a): a bounded, folder-safe slug after the time-ordered id; ids
made before the slug still read. Ray-free."""

from __future__ import annotations

from pathlib import Path

import pytest

from resnet_mnist.core.files import FileRefused
from resnet_mnist.sweeps.spec import SLUG_MAX, SweepSpec, is_sweep_id, name_slug, new_sweep_id
from resnet_mnist.sweeps.status import SweepRequest, move_to_its_id, read_request, sweep_folder, write_request


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("LR search #2 (fast)", "lr-search-2-fast"),
        ("Élan — café", "elan-cafe"),
        ("../../etc/passwd", "etc-passwd"),
        ("**bold** `code`", "bold-code"),
        ("   ", ""),
        ("数字", ""),  # nothing ASCII left: the id stays unnamed
    ],
)
def test_a_name_becomes_a_slug_safe_as_a_folder_name(name: str, slug: str) -> None:
    assert name_slug(name) == slug
    sweep_id = new_sweep_id(name)
    assert sweep_id.endswith(f"-{slug}") if slug else sweep_id.count("-") == 3
    assert is_sweep_id(sweep_id) and "/" not in sweep_id and ".." not in sweep_id


def test_a_long_name_is_cut_to_a_bounded_slug_without_a_trailing_hyphen() -> None:
    slug = name_slug("a-" * 5000 + "b")  # and a huge name costs no more than a short one
    assert 0 < len(slug) <= SLUG_MAX and not slug.endswith("-")
    assert is_sweep_id(new_sweep_id("x" * 500))


def test_old_ids_still_read_and_foreign_ones_do_not() -> None:
    assert is_sweep_id("sweep-20260101-120000-ab12")  # made before names were part of ids
    assert is_sweep_id("sweep-20260101-120000-ab12-lr-search")
    for bad in ("sweep-cluster", "../sweep-20260101-120000-ab12", "sweep-20260101-120000-ab12-Bad", ""):
        assert not is_sweep_id(bad), bad


def _request(folder: Path, sweep_id: str) -> SweepRequest:
    request = SweepRequest(sweep_id, SweepSpec(name="lr search").to_dict(), str(folder.parents[1]))
    write_request(folder, request)
    return request


def test_a_standby_folder_takes_its_named_sweeps_id(tmp_path: Path) -> None:
    standby = sweep_folder(tmp_path, "sweep-20260101-120000-ab12")
    standby.mkdir(parents=True)
    request = _request(standby, "sweep-20260101-120000-ab12-lr-search")
    moved = move_to_its_id(standby, read_request(standby))
    assert moved == sweep_folder(tmp_path, request.sweep_id) and read_request(moved) == request
    assert not standby.exists()
    assert move_to_its_id(moved, request) == moved  # already there: nothing moves


def test_a_request_whose_id_is_no_sweep_id_is_refused_with_one_message(tmp_path: Path) -> None:
    folder = sweep_folder(tmp_path, "sweep-20260101-120000-ab12")
    folder.mkdir(parents=True)
    _request(folder, "../../elsewhere")
    with pytest.raises(FileRefused, match="sweep_id"):
        read_request(folder)
