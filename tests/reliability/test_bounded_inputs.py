"""Bounded work: an input small on the wire but huge in memory is refused by what it declares, before the
work it claims is done (checkpoints, images, sweeps), and charts draw a few thousand points however long
the run."""

from __future__ import annotations

import io
import math
import struct
import subprocess
import sys
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest
import torch

from resnet_mnist import Net, TrainConfig, load_checkpoint, preprocess_image
from resnet_mnist.core.events import BatchLogged
from resnet_mnist.predict.preprocess import MAX_IMAGE_PIXELS, ImageError, load_image
from resnet_mnist.runs.checkpoint import CHECKPOINT_FORMAT, CheckpointError
from resnet_mnist.runs.comparison import RunCurves
from resnet_mnist.sweeps.spec import Axis, SweepSpec
from resnet_mnist.ui.figures import curves_figure, loss_figure, metrics_from_events, thin_batches
from resnet_mnist.ui.figures.downsample import MAX_POINTS

REPO = Path(__file__).resolve().parents[2]


def _checkpoint_bytes() -> bytes:
    buffer = io.BytesIO()
    config = TrainConfig().to_dict()
    torch.save({"format": CHECKPOINT_FORMAT, "config": config, "state_dict": Net().state_dict(), "epoch": 1}, buffer)
    return buffer.getvalue()


def _with_extra_entry(data: bytes, name: str, size: int) -> bytes:
    """The checkpoint's zip with one more deflated entry of `size` zero bytes (a few hundred KB on the wire)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for entry in source.infolist():
            target.writestr(entry, source.read(entry.filename))
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with target.open(info, "w", force_zip64=True) as handle:
            chunk = bytes(1 << 20)
            for _ in range(size >> 20):
                handle.write(chunk)
    return out.getvalue()


def test_a_small_checkpoint_that_unpacks_to_far_more_is_refused_before_unpacking() -> None:
    bomb = _with_extra_entry(_checkpoint_bytes(), "archive/data/99", 64 << 20)  # 64 MB of zeros
    assert len(bomb) < 500_000  # small on the wire
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match=r"would unpack to 67 MB.*refused before unpacking"):
            load_checkpoint(io.BytesIO(bomb), name="bomb.pt")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * len(bomb) + 5_000_000  # the file's bytes, never the 64 MB it claims


def test_a_checkpoint_whose_zip_directory_claims_a_huge_entry_is_refused() -> None:
    data = bytearray(_checkpoint_bytes())
    # Rewrite the central directory's "uncompressed size" of the first entry to 1 GB (the bytes stay small).
    directory = data.rfind(b"PK\x01\x02", 0, len(data))
    first = data.find(b"PK\x01\x02")
    assert first != -1 and directory != -1
    struct.pack_into("<I", data, first + 24, 1 << 30)
    with pytest.raises(CheckpointError, match=r"would unpack to 1,07[0-9] MB"):
        load_checkpoint(io.BytesIO(bytes(data)), name="liar.pt")


def test_a_checkpoint_with_too_many_entries_is_refused() -> None:
    buffer = io.BytesIO()
    torch.save({**Net().state_dict(), **{f"t{i}": torch.zeros(1) for i in range(300)}}, buffer)
    with pytest.raises(CheckpointError, match="entries"):
        load_checkpoint(io.BytesIO(buffer.getvalue()), name="many.pt")


def test_keys_and_shapes_are_checked_without_reading_tensor_data() -> None:
    """The first pass maps every tensor to the meta device: a wrong shape is refused from the pickle alone."""
    state = Net().state_dict()
    state["fc1.weight"] = torch.zeros(10, 5)  # the wrong shape
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with pytest.raises(CheckpointError, match=r"wrong shape for fc1\.weight"):
        load_checkpoint(io.BytesIO(buffer.getvalue()), name="shape.pt")
    state = Net().state_dict()
    state["conv1.weight"] = torch.zeros(16, 1, 5, 5, dtype=torch.int64)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with pytest.raises(CheckpointError, match="not floating-point weights"):
        load_checkpoint(io.BytesIO(buffer.getvalue()), name="ints.pt")


def _png_header(width: int, height: int) -> bytes:
    """A tiny PNG file whose header claims width × height pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(("width", "height"), [(20_000, 10_000), (6_000, 5_000)], ids=["200 MP", "30 MP"])
def test_an_image_claiming_too_many_pixels_gets_one_line_and_no_decoding(
    tmp_path: Path, trained_checkpoint: Path, width: int, height: int
) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header(width, height))
    with pytest.raises(ImageError, match=r"megapixels|decompression bomb"):
        load_image(path)
    result = subprocess.run(
        [sys.executable, "-m", "resnet_mnist", "predict", str(path), "--checkpoint", str(trained_checkpoint)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr and "huge.png" in result.stderr


def test_an_array_over_the_pixel_limit_is_refused_before_any_conversion() -> None:
    side = math.isqrt(MAX_IMAGE_PIXELS) + 1
    view = torch.zeros(1, dtype=torch.uint8).expand(side, side).numpy()  # (side, side) without the memory
    with pytest.raises(ImageError, match="megapixels"):
        preprocess_image(view)


@pytest.fixture
def trained_checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "model.pt"
    path.write_bytes(_checkpoint_bytes())
    return path


def test_a_random_sweep_over_millions_of_combinations_is_counted_and_checked_without_building_them() -> None:
    values = 45
    space = {
        "lr": Axis(values=tuple(round(0.001 * (i + 1), 4) for i in range(values))),
        "momentum": Axis(values=tuple(round(0.02 * i, 2) for i in range(values))),
        "batch_size": Axis(values=tuple(range(16, 16 + values))),
        "epochs": Axis(values=tuple(range(1, values + 1))),
    }
    random_spec = SweepSpec(base=TrainConfig(train_limit=5000), space=space, search="random", samples=4, seed=7)
    grid_spec = SweepSpec(base=TrainConfig(train_limit=5000), space=space, search="grid")
    tracemalloc.start()
    try:
        counts = random_spec.trial_count, grid_spec.trial_count
        problems = random_spec.problems(), grid_spec.problems()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert counts == (4, values**4) == (4, 4_100_625)
    assert problems[0] == [] and any("at most" in p for p in problems[1])  # the grid is refused by its count
    assert peak < 5_000_000  # four million combinations as dicts would take gigabytes


def _long_run(epochs: int = 500, per_epoch: int = 938) -> list[BatchLogged]:
    """A 500-epoch run logged every batch, with a one-batch spike in epoch 321."""
    spike = 320 * per_epoch + 17
    events = []
    for s in range(epochs * per_epoch):
        loss = 9.0 if s == spike else 1 / (1 + s)
        events.append(BatchLogged(1 + s // per_epoch, s + 1, 1 + s % per_epoch, per_epoch, loss, 1e3, 0.01, 0.5))
    return events


def test_the_live_loss_chart_draws_a_few_thousand_points_of_a_long_run_and_keeps_its_spike() -> None:
    batches = _long_run()
    shown = thin_batches(batches)
    assert len(shown) <= MAX_POINTS and max(b.loss for b in shown) == 9.0
    assert [b.step for b in shown] == sorted(b.step for b in shown)  # still in order
    figure = loss_figure(metrics_from_events(shown)["batches"])
    assert len(figure.data[0].x) <= MAX_POINTS and max(figure.data[0].y) == 9.0
    records = metrics_from_events(batches[:50_000])["batches"]  # records (metrics.json) are thinned the same way
    assert len(loss_figure(records).data[0].x) <= MAX_POINTS


def test_the_compare_chart_draws_a_few_thousand_points_per_run_and_keeps_spikes() -> None:
    batches = _long_run()
    curves = RunCurves(
        run_id="long",
        label="long",
        epochs=(1,),
        test_accuracy=(0.9,),
        test_loss=(0.1,),
        train_x=tuple(b.epoch - 1 + b.batch / b.batches_per_epoch for b in batches),
        train_loss=tuple(b.loss for b in batches),
    )
    for smoothing in (0.0, 0.6):
        figure = curves_figure([curves], "train_loss", smoothing=smoothing)
        assert all(len(trace.x) <= MAX_POINTS for trace in figure.data)
    raw = curves_figure([curves], "train_loss", smoothing=0.6).data[0]
    assert max(raw.y) == 9.0
