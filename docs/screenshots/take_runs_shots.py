"""The README's Runs-page screenshots (runs-compare, runs-confusion, sweep-importance, sweep) from a real runs folder.

Made by hand, not by the suite (they need a sweep with enough trials to rank its settings). The folder:
three `train --epochs 3 --train-limit 20000` runs named seed-recipe (lr 0.01, momentum 0.5), faster
(0.05, 0.9) and too-fast (0.2, 0.9), trained after a CLI sweep of 12 random trials
(`sweep --lr 0.002:0.3:log --momentum 0.3:0.95 --train-limit 3000 --test-limit 1000 --epochs 2 --samples 12
--name "lr and momentum"`), so that they are the table's first three rows. Then, inside
../shared/tools/loopback-ns (the Sweep tab runs a real sweep): `python docs/screenshots/take_runs_shots.py
RUNS_DIR OUT_DIR 0,1,2` (the rows to tick).
"""

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
from e2e.conftest import CHROMIUM_ARGS  # noqa: E402 (the browser tests' flags; found once the path is set)

RUNS, OUT, ROWS = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
OUT.mkdir(exist_ok=True)
PORT = 8617
env = {
    **os.environ,
    "RESNET_MNIST_RUNS": str(RUNS),
    "RESNET_MNIST_HANDWRITING": str(OUT / "handwriting"),
    "RESNET_MNIST_SWEEP_STANDBY": "0",
}
server = subprocess.Popen(
    [
        str(REPO / ".venv/bin/streamlit"),
        "run",
        "app.py",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(PORT),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ],
    cwd=REPO,
    env=env,
    stdout=open(OUT / "server.log", "w"),  # noqa: SIM115 (open while the server runs)
    stderr=subprocess.STDOUT,
)
try:
    for _ in range(120):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{PORT}/_stcore/health").read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=CHROMIUM_ARGS,
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})

        def idle():
            time.sleep(1.0)
            page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120000)
            time.sleep(1.5)

        def shot(name, full=True):
            height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
            page.set_viewport_size({"width": 1400, "height": min(max(900, height + 40), 3200)})
            time.sleep(1.5)
            page.screenshot(path=str(OUT / f"{name}.png"))
            page.set_viewport_size({"width": 1400, "height": 900})

        page.goto(f"http://127.0.0.1:{PORT}/runs")
        idle()
        grid = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
        for row in ROWS.split(","):
            page.mouse.click(grid["x"] + 20, grid["y"] + 35 * (int(row) + 1) + 17)
            idle()
        shot("runs-compare")
        page.get_by_role("tab", name="Evaluate").click()
        idle()
        page.locator(".st-key-chart_confusion").wait_for()
        idle()
        shot("runs-confusion")
        page.get_by_role("tab", name="Sweep").click()
        idle()
        page.locator(".st-key-sweep_importance").wait_for()
        idle()
        shot("sweep-importance-page")
        top = page.get_by_role("heading", name="Which setting mattered").bounding_box()["y"]
        whole = Image.open(OUT / "sweep-importance-page.png")
        whole.crop((int(grid["x"]) - 40, int(top) - 30, int(grid["x"] + grid["width"]) + 40, whole.size[1])).save(
            OUT / "sweep-importance.png"
        )

        def fill(key, text):
            box = page.locator(f".st-key-{key} input")
            box.fill(text)
            box.press("Enter")
            idle()

        fill("sweep_lr", "0.003:0.3:log")
        fill("sweep_epochs", "2")
        fill("sweep_train_limit", "3000")
        fill("sweep_test_limit", "1000")
        fill("sweep_samples", "6")
        fill("sweep_name", "readme")
        page.locator(".st-key-sweep_scheduler").get_by_text("asha", exact=True).click()
        idle()
        shot("sweep-form")
        page.get_by_role("button", name="Start sweep").click()
        page.get_by_role("button", name="Run again").wait_for(timeout=400_000)
        idle()
        page.locator(".st-key-sweep_curves").wait_for()
        idle()
        shot("sweep")
        browser.close()
finally:
    server.terminate()
    server.wait(30)
