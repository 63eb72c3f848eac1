"""A well-formed checkpoint that unpacks to 1.2 GB is refused on every path that loads one, in one line,
from its zip's declared sizes, before any tensor is read: the peak stays under 1 GB.

The bomb is this network's checkpoint plus one more tensor of 302 million zeros, referenced by the
pickle like any weight, every entry deflated: 1.3 MB on the wire (the issue's file peaked at 4.1 GB).
Each path runs in one child process that prints its peak (VmHWM) after every step; the peak only
grows, so each step's figure bounds that step (and after a step over the bound, every later one reads over).

Measured on the 2-core test machine (torch 2.14; `import torch` alone peaks at 649 MB):
- with the checks: every step 635 MB, the peak of the child's imports; `python -m resnet_mnist
  evaluate --checkpoint bomb.pt` as a process 679 MB;
- the checks removed (check_archive a no-op): 1,781 MB after the CLI, 2,036 MB after the rest; only the
  evaluation.pt check removed: 1,513 MB after that step; `torch.load(bomb, weights_only=True)`: 2,885 MB;
- the baseline, a good checkpoint's `python -m resnet_mnist evaluate` on all 10,000 test images: 934 MB.
Sweep trials load no checkpoint (sweeps/trainable.py: Tune's restore is a no-op and a trial's weights are
only written), so there is no trial path to test.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest
import torch
from helpers import REPO, open_app, record_run

from resnet_mnist import Net, RunStore, TrainConfig
from resnet_mnist.runs.checkpoint import CHECKPOINT_FORMAT, MAX_CHECKPOINT_FILE_BYTES
from resnet_mnist.runs.evaluation import PREDICTIONS_FILE, cached_predictions

PEAK_BOUND = 1_000_000_000  # bytes: the bound for refusing a bomb
BLOCK = 1 << 24  # 16 MiB of zeros, deflated once and repeated
MARK = 123_457  # the extra tensor's length before it is swollen: found twice in the pickle (numel, size)
CHECKPOINT_BOMB = 72 * BLOCK  # 1.21 GB
PREDICTIONS_BOMB = 56 * BLOCK  # 0.94 GB: deflated under the 1 MB a cached evaluation.pt may be on disk


def _zip(entries: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip of (name, stored bytes, method, crc, declared size) entries, written by hand so a body can be
    a deflate stream made without deflating 1.2 GB (zipfile would take seconds)."""
    out, central = bytearray(), bytearray()
    for name, body, method, crc, size in entries:
        raw = name.encode()
        central += struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc, len(body), size,
                               len(raw), 0, 0, 0, 0, 0, len(out)) + raw  # fmt: skip
        out += struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(body), size, len(raw), 0)
        out += raw + body
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(out), 0)
    return bytes(out + central + end)


def _deflated_zeros(size: int) -> tuple[bytes, int]:
    """(deflate stream, crc32) of `size` zero bytes, in blocks of up to 16 MiB. A full flush ends each
    block's output with no reference to what came before, so one block's output repeated is a valid stream."""
    block = min(size, BLOCK)
    assert size % block == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(block)
    one = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(size // block):
        crc = zlib.crc32(zeros, crc)
    return one * (size // block) + zlib.compressobj(9, zlib.DEFLATED, -15).flush(), crc


def _bomb(payload: dict, size: int, *, declared: int | None = None) -> bytes:
    """torch.save(payload), its tensor of MARK float zeros swollen to `size` bytes: the pickle's numel and
    size rewritten, every entry deflated. `declared` under-declares that entry's size in both headers."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    numel = size // 4
    old, new = b"J" + struct.pack("<i", MARK), b"J" + struct.pack("<i", numel)
    entries = []
    for info in source.infolist():
        body = source.read(info.filename)
        if info.filename.endswith("data.pkl"):
            assert body.count(old) == 2, "the pickle names the extra tensor's length in two places"
            body = body.replace(old, new)
        if info.file_size == MARK * 4:
            stream, crc = _deflated_zeros(size)
            entries.append((info.filename, stream, 8, crc, size if declared is None else declared))
        else:
            compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
            entries.append(
                (info.filename, compressor.compress(body) + compressor.flush(), 8, zlib.crc32(body), len(body))
            )
    return _zip(entries)


def _checkpoint_payload() -> dict:
    return {
        "format": CHECKPOINT_FORMAT,
        "config": TrainConfig().to_dict(),
        "state_dict": Net().state_dict(),
        "epoch": 1,
        "metrics": {},
        "extra": torch.zeros(MARK),
    }


def _predictions_payload() -> dict:
    return {
        "predictions": torch.zeros(10_000, dtype=torch.long),
        "confidences": torch.ones(10_000),
        "extra": torch.zeros(MARK),
    }


# Each step loads the bomb as one path does, then prints what came of it and the peak so far.
_CHILD = """
import contextlib, io, json, sys
from pathlib import Path
from resnet_mnist import RunStore
from resnet_mnist.cli.main import main
from resnet_mnist.handwriting.digits import HandwritingSet, HandwrittenDigit
from resnet_mnist.handwriting.scores import score_run
from resnet_mnist.handwriting.teach import prepare_teach
from resnet_mnist.runs.evaluation import cached_predictions, evaluate_run
from resnet_mnist.ui.model_choice import load_uploaded_checkpoint

paths = json.loads(sys.argv[1])
store = RunStore(paths["runs"])
run, predictions_run = store.get(paths["run"]), store.get(paths["predictions_run"])
hset = HandwritingSet(Path(paths["runs"]).parent / "hw", (HandwrittenDigit("0.png", 0, 2, "0" * 64),), "0" * 64)

def cli(path):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["evaluate", "--checkpoint", path, "--test-limit", "100"])
    return f"exit {code}: {err.getvalue()}"

steps = {
    "imports": lambda: None,
    "good upload": lambda: load_uploaded_checkpoint(Path(paths["good"]).read_bytes(), "good.pt").epoch,
    "cli evaluate --checkpoint": lambda: cli(paths["bomb"]),
    "under-declared entry": lambda: cli(paths["liar"]),
    "draw page upload": lambda: load_uploaded_checkpoint(Path(paths["bomb"]).read_bytes(), "bomb.pt"),
    "run folder: evaluate_run": lambda: evaluate_run(run, test_limit=100),
    "run folder: handwriting score": lambda: score_run(run, hset),
    "run folder: teach's parent": lambda: prepare_teach(run.id, hset, store=store),
    "run folder: evaluation.pt": lambda: cached_predictions(predictions_run),
}
for step, call in steps.items():
    try:
        result = call()
        outcome = result if isinstance(result, str) else repr(result)
    except Exception as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    # VmHWM, this process's own high-water mark: ru_maxrss would carry over what the pytest process
    # held when it forked this one (Linux keeps it across execve), 1.6 GB late in a full run.
    status = Path("/proc/self/status").read_text()
    peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) * 1024
    print(json.dumps({"step": step, "outcome": outcome, "peak": peak}), flush=True)
"""


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.pt"
    path.write_bytes(_bomb(_checkpoint_payload(), CHECKPOINT_BOMB))
    return path


@pytest.fixture(scope="module")
def steps(bomb: Path, tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> dict[str, dict]:
    """Every loading path's outcome and peak, from one child process (one torch import, not eight)."""
    folder = tmp_path_factory.mktemp("paths")
    store = RunStore(folder / "runs")
    run, predictions_run = record_run(store), record_run(store)
    good = folder / "good.pt"
    good.write_bytes(run.checkpoint_path.read_bytes())
    run.checkpoint_path.write_bytes(bomb.read_bytes())
    swollen = _bomb(_predictions_payload(), PREDICTIONS_BOMB)
    assert len(swollen) < 1_000_000  # under the cache file's bound on disk: only its declared sizes refuse it
    (predictions_run.path / PREDICTIONS_FILE).write_bytes(swollen)
    liar = folder / "liar.pt"
    liar.write_bytes(_bomb(_checkpoint_payload(), CHECKPOINT_BOMB, declared=1000))
    paths = {"runs": str(store.root), "run": run.id, "predictions_run": predictions_run.id}
    paths |= {"bomb": str(bomb), "good": str(good), "liar": str(liar)}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(paths)],
        cwd=REPO,
        env={**os.environ, "RESNET_MNIST_DATA": str(data_root)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    return {line["step"]: line for line in map(json.loads, child.stdout.splitlines())}


def test_the_bomb_is_small_on_the_wire_and_torch_would_unpack_it_whole(bomb: Path) -> None:
    """The fixture is the issue's file: 1.2 MB, well-formed (its pickle references the 1.2 GB tensor)."""
    assert bomb.stat().st_size < 2_000_000 < MAX_CHECKPOINT_FILE_BYTES
    meta = torch.load(bomb, map_location="meta", weights_only=True)  # the pickle alone, no tensor data
    assert meta["extra"].shape == (CHECKPOINT_BOMB // 4,)
    assert meta["state_dict"].keys() == Net().state_dict().keys()
    # Built the same way but not swollen, it loads whole: the zip and pickle are ones torch reads.
    same = torch.load(io.BytesIO(_bomb(_checkpoint_payload(), MARK * 4)), weights_only=True)
    assert torch.equal(same["extra"], torch.zeros(MARK))


def test_a_good_checkpoint_loads_in_the_same_child(steps: dict[str, dict]) -> None:
    assert steps["good upload"]["outcome"] == "1", steps["good upload"]["outcome"]


@pytest.mark.parametrize(
    "step",
    [
        "draw page upload",
        "run folder: evaluate_run",
        "run folder: handwriting score",
        "run folder: teach's parent",
    ],
)
def test_each_loading_path_refuses_the_bomb_in_one_line_under_1_gb(steps: dict[str, dict], step: str) -> None:
    outcome, peak = steps[step]["outcome"], steps[step]["peak"]
    assert outcome.startswith("CheckpointError: "), outcome
    assert "\n" not in outcome and "would unpack to 1,208 MB" in outcome and "refused before unpacking" in outcome
    assert peak < PEAK_BOUND, f"{step} peaked at {peak / 1e6:,.0f} MB"


def test_the_cli_refuses_the_bomb_in_one_line_on_stderr_under_1_gb(steps: dict[str, dict], bomb: Path) -> None:
    outcome, peak = steps["cli evaluate --checkpoint"]["outcome"], steps["cli evaluate --checkpoint"]["peak"]
    assert outcome.startswith(f"exit 1: error: {bomb} would unpack to 1,208 MB"), outcome
    assert outcome.count("\n") == 1 and outcome.endswith("refused before unpacking\n")
    assert peak < PEAK_BOUND, f"the CLI peaked at {peak / 1e6:,.0f} MB"


def test_an_entry_that_unpacks_past_its_declared_size_is_refused_under_1_gb(steps: dict[str, dict]) -> None:
    """Both zip headers say 1,000 bytes; torch inflates into a buffer of the declared size and stops."""
    outcome, peak = steps["under-declared entry"]["outcome"], steps["under-declared entry"]["peak"]
    assert outcome.startswith("exit 1: error: ") and outcome.count("\n") == 1, outcome
    assert "is not a readable checkpoint" in outcome
    assert peak < PEAK_BOUND, f"the under-declared bomb peaked at {peak / 1e6:,.0f} MB"


def test_a_swollen_cached_evaluation_is_no_cache_and_is_never_unpacked(steps: dict[str, dict], tmp_path: Path) -> None:
    """evaluation.pt passes its 1 MB bound on disk yet unpacks to 0.94 GB: refused by the declared sizes."""
    outcome, peak = steps["run folder: evaluation.pt"]["outcome"], steps["run folder: evaluation.pt"]["peak"]
    assert outcome == "None", outcome
    assert peak < PEAK_BOUND, f"reading the cached evaluation peaked at {peak / 1e6:,.0f} MB"
    # The same file unswollen is a cache: what is refused is the size, not the file's make.
    run = record_run(RunStore(tmp_path / "runs"))
    (run.path / PREDICTIONS_FILE).write_bytes(_bomb(_predictions_payload(), MARK * 4))
    predictions, confidences = cached_predictions(run)
    assert predictions.shape == confidences.shape == (10_000,)


def test_the_draw_page_refuses_the_bomb_as_a_saved_run_and_as_an_upload(
    app_sessions: None, bomb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = record_run(RunStore(tmp_path / "runs"))
    run.checkpoint_path.write_bytes(bomb.read_bytes())
    monkeypatch.setenv("RESNET_MNIST_RUNS", str(tmp_path / "runs"))
    at = open_app("pages/draw.py")
    (error,) = at.error
    assert "could not be loaded" in error.value and "would unpack to 1,208 MB" in error.value
    at.radio(key="draw_source").set_value("An uploaded checkpoint").run()
    at.file_uploader[0].set_value(("bomb.pt", bomb.read_bytes(), "application/octet-stream"))
    at.run()
    assert not at.exception
    (error,) = at.error
    assert "bomb.pt would unpack to 1,208 MB" in error.value and "\n" not in error.value
    assert not at.get("bidi_component")  # no canvas: there is no model to draw for
