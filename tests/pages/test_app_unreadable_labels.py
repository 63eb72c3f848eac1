"""A labels.csv the csv module cannot read (a field over its 131,072-character limit) is one line naming the row on
every page that reads the folder, and in a zip being imported; before, `_csv.Error` raised on each (issue 27)."""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

from helpers import open_app_page, record_run

from resnet_mnist import RunStore
from resnet_mnist.handwriting.digits import LABELS_FILE

UNREADABLE = "file,label\na.png,3\n" + "x" * 131_073 + ".png,4\n"
SAID = "line 3: not readable as CSV (field larger than field limit (131072))"


def test_my_digits_runs_and_zip_import_name_the_row_of_an_unreadable_labels_file(runs_dir: Path) -> None:
    record_run(RunStore(runs_dir))  # the Runs page scores every run on the folder
    root = Path(os.environ["RESNET_MNIST_HANDWRITING"])  # this test's own folder (conftest)
    root.mkdir(parents=True)
    (root / LABELS_FILE).write_text(UNREADABLE)
    my_digits = open_app_page("pages/my_digits.py")
    [error] = my_digits.error
    assert error.value.startswith("This folder cannot be read: ") and SAID in error.value.replace("\\", "")
    runs = open_app_page("pages/runs.py")
    assert any(SAID in w.value.replace("\\", "") for w in runs.warning), [w.value for w in runs.warning]

    (root / LABELS_FILE).write_text("file,label\n")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(LABELS_FILE, UNREADABLE)
    at = open_app_page("pages/my_digits.py")
    at.file_uploader(key="my_digits_zip").set_value(("mine.zip", buffer.getvalue(), "application/zip")).run()
    at.button(key="my_digits_import").click().run()
    deadline = time.monotonic() + 60
    while not at.error and time.monotonic() < deadline:
        time.sleep(0.2)
        at.run()
    assert not at.exception, at.exception
    [error] = at.error
    assert error.value.replace("\\", "") == f"Nothing was added: the zip's labels.csv {SAID}"
    assert (root / LABELS_FILE).read_text() == "file,label\n"
