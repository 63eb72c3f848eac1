"""Text is text: names, tags, file contents and error messages reach every page escaped, so Streamlit's
Markdown shows them as typed (no image fetched, no colour, no link, no icon); plotly labels too.
tests/e2e/test_markdown_in_names.py checks what a real browser renders and requests."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest
import torch
from helpers import QUICK, open_app_page, record_run
from streamlit.testing.v1 import AppTest

from resnet_mnist import Net, RunStore, load_split
from resnet_mnist.runs.checkpoint import CHECKPOINT_FORMAT
from resnet_mnist.ui.plain_text import escape_markdown, escape_plotly

IMAGE_NAME = "![i](http://127.0.0.1:9/x.png)"
COLOUR_NAME = ":red[x] **bold** $x^2$ :material/home: :smile: <b>html</b> `code` # heading"
HOSTILE = [
    IMAGE_NAME,
    COLOUR_NAME,
    "[link](javascript:alert(1))",
    "# line one\n# two\n- three",
    "1. first",
    "back\\slash \\:red[x]",
    "_em_ *em* ~~gone~~ a|b &amp; www.example.com <http://x>",
]
# Raw Markdown that must never reach a page's Markdown unescaped.
_RAW = re.compile(r"(?<!\\)(!\[|:red\[|\*\*bold|\$x|<b>|:material/home:|:smile:|\[link\])")
_ESCAPED_CHAR = re.compile(r"\\([!-/:-@\[-`{-~])")


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_reads_back_as_typed_with_no_markdown_left(text: str) -> None:
    escaped = escape_markdown(text)
    assert "\n" not in escaped
    assert _ESCAPED_CHAR.sub(r"\1", escaped) == " ".join(text.split("\n"))  # backslash escapes undo to the text
    bare = _ESCAPED_CHAR.sub(" ", escaped)  # what is left once every escaped character is taken out
    assert not re.search(r"[\\`*\[\]<>$:~&|]", bare), bare  # nothing that starts inline syntax
    assert not re.search(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])", bare), bare  # an underscore only inside a word
    assert not re.match(r"\s*([#>+=-]|\d+[.)])", bare), bare  # and no block marker in front


def test_paths_and_file_names_read_as_they_are() -> None:
    text = "/tmp/run_1/checkpoint-2.pt (RESNET_MNIST_DATA)"
    assert escape_markdown(text) == text


def test_plotly_labels_are_html_escaped() -> None:
    assert (
        escape_plotly('<a href="http://127.0.0.1:9">x</a>\nrun')
        == "&lt;a href=&quot;http://127.0.0.1:9&quot;&gt;x&lt;/a&gt; run"
    )


def _markdown_bodies(at: AppTest) -> list[str]:
    """Every Markdown body the page sent: text, captions, alerts, toasts."""
    kinds = ("markdown", "caption", "error", "warning", "info", "success", "toast")
    return [element.value for kind in kinds for element in getattr(at, kind)]


def _assert_all_literal(at: AppTest) -> None:
    assert not at.exception, at.exception
    for body in _markdown_bodies(at):
        assert not _RAW.search(body), body


@pytest.fixture
def hostile_runs(runs_dir: Path, data_root: Path) -> dict[str, str]:
    """Runs whose names, tags and device are hostile Markdown; run id → name."""
    store = RunStore(runs_dir)
    names = {}
    for name in (COLOUR_NAME, IMAGE_NAME):
        run_id = record_run(store, name=name.replace("\n", " ")).id
        store.update(run_id, tags=[IMAGE_NAME, ":blue[tag]"])
        path = runs_dir / run_id / "run.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "device": ":material/bolt: cuda"}))
        names[run_id] = name
    load_split(data_root, train=False)
    return names


def test_the_overview_shows_a_hostile_run_name_literally(hostile_runs: dict[str, str]) -> None:
    at = open_app_page("pages/home.py")
    _assert_all_literal(at)
    latest = RunStore(Path(os.environ["RESNET_MNIST_RUNS"])).runs()[0]  # same second: either may be newest
    assert any(escape_markdown(latest.name) in c.value for c in at.caption)
    assert any(escape_markdown(":material/bolt: cuda") in c.value for c in at.caption)


def test_the_runs_page_shows_hostile_names_literally_in_every_tab_and_confirmation(
    hostile_runs: dict[str, str],
) -> None:
    ids = list(hostile_runs)
    for tab in ("Compare", "Evaluate", "Epochs & doctor", "Manage", "Sweep"):
        at = open_app_page("pages/runs.py", runs_tab=tab, compare_ids=ids)
        _assert_all_literal(at)

    victim = ids[1]  # the image-named run: ask to delete it, then do
    at = open_app_page("pages/runs.py", runs_tab="Manage", compare_ids=[victim], confirm_delete=victim)
    _assert_all_literal(at)
    assert any(escape_markdown(IMAGE_NAME) in w.value for w in at.warning)
    at.button(key="confirm_delete_yes").click().run()
    _assert_all_literal(at)
    assert any(escape_markdown(IMAGE_NAME) in t.value for t in at.toast)


def test_the_compare_charts_show_hostile_names_as_text(hostile_runs: dict[str, str]) -> None:
    at = open_app_page("pages/runs.py", runs_tab="Compare", compare_ids=list(hostile_runs))
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = {trace["name"] for trace in spec["data"] if trace.get("name")}
    assert names == {escape_plotly(COLOUR_NAME), escape_plotly(IMAGE_NAME)}  # legends and hovers read the name
    assert all("%{fullData.name}" in trace["hovertemplate"] for trace in spec["data"] if trace.get("name"))


def test_the_draw_page_shows_a_hostile_checkpoint_file_name_and_config_literally(data_root: Path) -> None:
    at = open_app_page("pages/draw.py")
    at.radio(key="draw_source").set_value("An uploaded checkpoint").run()
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "config": QUICK.to_dict(), "state_dict": Net().state_dict()}, buffer)
    at.file_uploader[0].set_value((f"{IMAGE_NAME}.pt", buffer.getvalue(), "application/octet-stream")).run()
    _assert_all_literal(at)
    assert any(escape_markdown(IMAGE_NAME) in s.value for s in at.success)
    bad = {"format": CHECKPOINT_FORMAT, "config": {**QUICK.to_dict(), "device": COLOUR_NAME}}
    buffer = io.BytesIO()
    torch.save({**bad, "state_dict": Net().state_dict()}, buffer)
    at.file_uploader[0].set_value((f"{COLOUR_NAME}.pt", buffer.getvalue(), "application/octet-stream")).run()
    _assert_all_literal(at)
    assert any("can't be used" in e.value and escape_markdown("config.device") in e.value for e in at.error)


def test_sweep_and_settings_errors_show_what_was_typed_literally(data_root: Path) -> None:
    at = open_app_page("pages/runs.py", runs_tab="Sweep")
    at.text_input(key="sweep_lr").set_value("0.1, ![i](http://127.0.0.1:9/x.png)").run()
    _assert_all_literal(at)
    # a colon makes the box a range, so the whole box is quoted back in the error
    assert any(escape_markdown("'0.1, ![i](http://127.0.0.1:9/x.png)'") in e.value for e in at.error)


def test_the_train_pages_notes_on_a_links_values_show_them_as_text() -> None:
    """A link's value quoted back under its field ("Not taken from the link: …") is text, never an image or a link."""
    at = open_app_page("pages/train.py")
    at.query_params.update({"lr": IMAGE_NAME, "device": "[Click here to fix](http://127.0.0.1:9/fix)"})
    at.run()
    _assert_all_literal(at)
    notes = [w.value for w in at.warning if "Not taken from the link" in w.value]
    assert len(notes) == 2, notes
    assert any(escape_markdown(repr(IMAGE_NAME)) in note for note in notes), notes
    for note in notes:
        assert not re.search(r"(?<!\\)\]\(", note), note  # no live link or image target: `](` escaped
