"""Mixed precision: what 'auto' picks and why, and that bf16/fp16 runs really compute in 16 bits yet learn like fp32."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from resnet_mnist.core.config import TrainConfig
from resnet_mnist.core.data import load_split
from resnet_mnist.core.engine import build_model, evaluate, make_optimizer, train_epoch
from resnet_mnist.core.precision import (
    FP32,
    PRECISION_CHOICES,
    Precision,
    cpu_native_bf16,
    precision_problem,
    resolve_precision,
)


@pytest.fixture(scope="module")
def train_split(data_root):
    return load_split(data_root, train=True, limit=64 * 30)


@pytest.fixture(scope="module")
def test_split(data_root):
    return load_split(data_root, train=False, limit=1000)


def test_auto_on_the_cpu_picks_bf16_exactly_when_the_cpu_has_it_natively() -> None:
    chosen = resolve_precision("auto", "cpu")
    native = cpu_native_bf16()
    if native:
        assert (chosen.name, chosen.dtype) == ("bf16", torch.bfloat16)
        assert native in chosen.reason
    else:
        assert (chosen.name, chosen.dtype) == ("fp32", None)
        assert "no native bfloat16" in chosen.reason
    assert chosen.reason.startswith("auto: ")


def test_native_bf16_comes_from_torchs_view_of_the_cpu() -> None:
    capabilities = torch.cpu.get_capabilities()
    has_it = any(capabilities.get(flag) for flag in ("amx_bf16", "avx512_bf16", "sve_bf16", "bf16"))
    assert (cpu_native_bf16() is not None) == (has_it and torch.backends.mkldnn.is_available())


@pytest.mark.parametrize("choice", ["fp32", "bf16"])
def test_an_explicit_choice_is_kept_on_the_cpu(choice: str) -> None:
    chosen = resolve_precision(choice, "cpu")
    assert chosen.name == choice
    assert chosen.reason.startswith(f"{choice} was asked for")
    assert chosen.grad_scaler() is None  # only float16 needs loss scaling


def test_auto_never_fails_and_elsewhere_is_fp32() -> None:
    assert all(precision_problem("auto", device) is None for device in ("cpu", "cuda", "mps"))
    assert resolve_precision("auto", "mps").name == "fp32"
    assert resolve_precision("fp32", "mps").name == "fp32"


def test_impossible_choices_are_refused_with_a_reason() -> None:
    assert "unknown precision 'fp8'" in precision_problem("fp8", "cpu")
    assert set(PRECISION_CHOICES) == {"fp32", "bf16", "auto"}
    assert "CPU and CUDA only" in precision_problem("bf16", torch.device("mps"))
    assert precision_problem("bf16", "auto") is None
    with pytest.raises(ValueError, match="not on mps"):
        resolve_precision("bf16", "mps")


def test_fp32_adds_no_autocast() -> None:
    assert not torch.is_autocast_enabled("cpu")
    with FP32.autocast():
        assert not torch.is_autocast_enabled("cpu")


def _conv_output_dtypes(model) -> list[torch.dtype]:
    seen: list[torch.dtype] = []
    model.conv1.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    return seen


def _epoch(model, split, precision: Precision, scaler=None) -> float:
    config = TrainConfig(lr=0.05, momentum=0.9)
    optimizer = make_optimizer(model, config)
    trained = train_epoch(
        model,
        optimizer,
        split,
        epoch=1,
        batch_size=64,
        log_interval=10,
        generator=torch.Generator().manual_seed(7),
        emit=lambda _event: None,
        channels_last=True,
        precision=precision,
        scaler=scaler,
    )
    return trained.mean_loss


def test_bf16_training_computes_in_bf16_keeps_fp32_weights_and_learns_like_fp32(train_split, test_split) -> None:
    bf16 = resolve_precision("bf16", "cpu")
    ours, reference = build_model(1, channels_last=True), build_model(1, channels_last=True)
    dtypes = _conv_output_dtypes(ours)
    bf16_loss = _epoch(ours, train_split, bf16)
    fp32_loss = _epoch(reference, train_split, FP32)
    assert set(dtypes) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in ours.parameters())  # master weights
    assert any(not torch.equal(a, b) for a, b in zip(ours.parameters(), reference.parameters(), strict=True))
    assert abs(bf16_loss - fp32_loss) < 0.05 * fp32_loss
    ours_eval, reference_eval = evaluate(ours, test_split, precision=bf16), evaluate(reference, test_split)
    assert reference_eval.accuracy > 0.8  # 30 batches are enough to learn, so the comparison means something
    assert abs(ours_eval.accuracy - reference_eval.accuracy) <= 0.02


def test_a_bf16_test_pass_agrees_with_fp32_and_reports_in_fp32(train_split, test_split) -> None:
    model = build_model(1, channels_last=True)
    _epoch(model, train_split, FP32)
    dtypes = _conv_output_dtypes(model)
    fast = evaluate(model, test_split, 1000, channels_last=True, precision=resolve_precision("bf16", "cpu"))
    exact = evaluate(model, test_split, 1000, channels_last=True)
    assert torch.bfloat16 in dtypes and torch.float32 in dtypes
    assert fast.confidences.dtype == torch.float32
    assert float((fast.predictions == exact.predictions).float().mean()) >= 0.99
    assert fast.loss == pytest.approx(exact.loss, rel=0.05)


def test_log_probabilities_are_fp32_under_autocast(test_split) -> None:
    model = build_model(3)
    with resolve_precision("bf16", "cpu").autocast():
        log_probs = model(test_split.images[:8])
    assert log_probs.dtype == torch.float32
    torch.testing.assert_close(log_probs.exp().sum(dim=1), torch.ones(8))


def test_float16_with_loss_scaling_trains(train_split) -> None:
    # float16 is what 'auto' gives a CUDA GPU without bf16; the CPU runs the same autocast and GradScaler code.
    fp16 = Precision("cpu", torch.float16, "the GradScaler path, on the CPU")
    scaler = fp16.grad_scaler()
    assert scaler is not None and fp16.name == "fp16"
    model = build_model(1, channels_last=True)
    dtypes = _conv_output_dtypes(model)
    before = [p.detach().clone() for p in model.parameters()]
    # Ten batches, not thirty: the CPU emulates float16 (0.57 s a batch alone, ~1.6 s beside the suite's other
    # worker; 48 s of the suite). Their mean loss is 1.72 here (2.04 after six), against chance's 2.30.
    ten_batches = train_split.__class__(train_split.images[: 64 * 10], train_split.labels[: 64 * 10])
    loss = _epoch(model, ten_batches, fp16, scaler)
    assert set(dtypes) == {torch.float16}
    assert loss < 2.0  # chance is ln(10) = 2.30
    assert scaler.get_scale() > 0
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_fp32_under_the_new_log_softmax_is_bit_identical_to_the_seeds(test_split) -> None:
    model = build_model(4)
    with torch.no_grad():
        last_stage = model.features(test_split.images[:16])["res_block_2"]
        expected = F.log_softmax(model.fc1(last_stage.reshape(16, -1)), dim=1)
        assert torch.equal(model(test_split.images[:16]), expected)
