"""The Train page says when another process (a command-line run, another dashboard) trains on the cores."""

from __future__ import annotations

import subprocess
import sys

from helpers import REPO, open_app_page

from resnet_mnist.jobs.cores import default_lock_path

HOLD = """
import sys, time
from pathlib import Path
from resnet_mnist.jobs.cores import CoreClaim
claim = CoreClaim(Path(sys.argv[1]))  # kept: the open lock file is the claim
claim.claim("cli train", sys.argv[2])
print("held", flush=True)
time.sleep(600)
"""


def test_the_train_page_names_another_process_on_the_cores_as_text() -> None:
    refusal = "A command-line `train` is training here; [stop it](http://127.0.0.1:9/x) or wait."
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(default_lock_path()), refusal], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        at = open_app_page("pages/train.py")
        notes = [info.value for info in at.info]
        assert any(
            r"\[stop it\](http\://127.0.0.1\:9/x)" in note and f"(process {holder.pid})" in note for note in notes
        ), notes
    finally:
        holder.kill()
        holder.wait(timeout=30)
    at.run()
    assert not any("process" in info.value for info in at.info)
