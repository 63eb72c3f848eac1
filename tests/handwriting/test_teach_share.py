"""What a fine-tune's run.json says it trained on is what it trained on: the handwriting's share of each epoch.

Each digit is repeated a whole number of times (at least once), so with thousands of digits the share is
well above the 0.25 the settings ask for (5,000 digits: 3,750 trained on beside 3,000 MNIST images, 56%).
MNIST test digits stand in for the handwriting here; the job is built as prepare_teach builds it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from resnet_mnist import Net, RunStore, TrainConfig, load_split
from resnet_mnist.handwriting.digits import HandwritingData, HandwritingSet, HandwrittenDigit
from resnet_mnist.handwriting.teach import TeachJob, TeachSettings, plan_holdout


def _job(digits: int, data_root: Path) -> TeachJob:
    stand_in = load_split(data_root, train=False, limit=digits)
    hset = HandwritingSet(
        Path("hw"),
        tuple(HandwrittenDigit(f"{i}.png", int(label), i + 2, f"{i:064x}") for i, label in enumerate(stand_in.labels)),
        "0" * 64,
    )
    settings = TeachSettings(handwriting_share=0.25)  # asked for a quarter; thousands of digits get more
    return TeachJob(
        config=TrainConfig(epochs=1, device="cpu"),
        name="share",
        parent={"run": None, "checkpoint": "parent.pt", "epoch": 1},
        initial_state=Net().state_dict(),
        hset=hset,
        data=HandwritingData(stand_in, stand_in.images[:, 0].numpy()),
        plan=plan_holdout(hset, settings.holdout),
        mnist_mix=load_split(data_root, train=True, limit=settings.mnist_images),
        mnist_test=load_split(data_root, train=False, limit=100),
        settings=settings,
    )


@pytest.mark.parametrize("digits", [60, 5000])
def test_run_json_records_the_handwriting_share_trained_on(digits: int, data_root: Path, runs_dir: Path) -> None:
    job = _job(digits, data_root)
    epoch = job.training_split(job.plan.train)  # what the delivered run trains on, every epoch
    handwriting = len(epoch) - len(job.mnist_mix)
    store = RunStore(runs_dir)
    recorder = store.create(job.config, device="cpu", name=job.name, extra=job.run_fields())
    recorded = store.get(recorder.run_id).teach
    assert recorded["mix"] == {
        "handwriting_images": handwriting,
        "mnist_images": len(job.mnist_mix),
        "handwriting_share": pytest.approx(handwriting / len(epoch)),
    }
    assert recorded["settings"]["handwriting_share"] == 0.25  # what was asked, kept beside what was used
    if digits == 5000:
        assert 0.55 < recorded["mix"]["handwriting_share"] < 0.56  # about 3,750 / 6,750, not 0.25
