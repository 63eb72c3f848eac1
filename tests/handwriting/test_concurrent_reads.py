"""A page reads the handwriting folder on every rerun while another session saves and deletes digits: a read never
meets a half-done delete (labels.csv is rewritten first, then the image removed)."""

from __future__ import annotations

import collections
import sys
import threading
from pathlib import Path

from resnet_mnist.core.files import atomic_write_bytes
from resnet_mnist.handwriting import digits
from resnet_mnist.handwriting.digits import HandwritingError, delete_digit, read_set

# a 1×1 PNG: read_set checks names, labels and sizes, never pixels
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def test_reads_beside_saves_and_deletes_see_a_whole_folder(tmp_path: Path) -> None:
    root = tmp_path / "hw"
    root.mkdir()
    rows = [(f"base{i}.png", i) for i in range(10)]
    for name, _ in rows:
        (root / name).write_bytes(PNG)
    digits._write_labels(root, rows)
    stop, seen = threading.Event(), collections.Counter()

    def read_in_a_loop() -> None:
        while not stop.is_set():
            try:
                seen[len(read_set(root).digits)] += 1
            except (HandwritingError, OSError) as exc:
                seen[f"{type(exc).__name__}: {exc}"[:120]] += 1

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads trade the interpreter often: the window shows within a second
    reader = threading.Thread(target=read_in_a_loop, daemon=True)
    reader.start()
    try:
        for i in range(600):
            name = f"new{i}.png"
            with digits._write_lock:  # as save_drawing: the image, then labels.csv
                atomic_write_bytes(root / name, PNG)
                digits._write_labels(root, [*rows, (name, 3)])
            delete_digit(root, name)
    finally:
        stop.set()
        reader.join(timeout=10)
        sys.setswitchinterval(switch)
    assert set(seen) <= {10, 11}, dict(seen)  # before the fix: "the file is missing" hundreds of times
    assert sum(seen.values()) > 100
