"""Preprocessing against a reference: MNIST's own digits, moved onto large canvases, must come back
as MNIST digits the trained model reads as well as the originals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.datasets import MNIST

from resnet_mnist import load_checkpoint, load_split
from resnet_mnist.core.data import normalize
from resnet_mnist.predict.inference import predict
from resnet_mnist.predict.preprocess import (
    STROKE_WIDTH_BAND,
    ImageError,
    box_stroke_width,
    crop_ink,
    even_stroke_width,
    ink_from_image,
    load_image,
    preprocess_image,
)
from testdata.canvas_digits import PASTE_CANVASES, PASTE_VARIANTS, PENS, paste, render, samples

SAMPLE = 300
CANVASES = PASTE_CANVASES
VARIANTS = PASTE_VARIANTS


@pytest.fixture(scope="module")
def model(trained_run):
    return load_checkpoint(trained_run.checkpoint_path).build_model()


@pytest.fixture(scope="module")
def mnist_test(data_root: Path) -> tuple[np.ndarray, np.ndarray]:
    """A fixed random sample of MNIST test digits as raw uint8 (N, 28, 28), and their labels."""
    dataset = MNIST(str(data_root), train=False, download=False)
    index = np.random.default_rng(0).choice(len(dataset), SAMPLE, replace=False)
    return dataset.data[index].numpy(), dataset.targets[index].numpy()


def _accuracy(model, images: list[np.ndarray], labels: np.ndarray) -> float:
    digits = [preprocess_image(image) for image in images]
    assert all(d is not None for d in digits), "a pasted digit was taken for an empty canvas"
    batch = torch.cat([d.tensor for d in digits])  # (N, 1, 28, 28)
    predicted = np.array([p.digit for p in predict(model, batch)])
    return float((predicted == labels).mean())


def test_reference_accuracy_on_unmodified_digits(model, mnist_test) -> None:
    digits, labels = mnist_test
    predicted = np.array([p.digit for p in predict(model, normalize(torch.from_numpy(digits)).unsqueeze(1))])
    accuracy = float((predicted == labels).mean())
    print(f"\nunmodified MNIST digits: {100 * accuracy:.1f}% of {SAMPLE}")
    assert accuracy >= 0.97


@pytest.mark.parametrize("variant", VARIANTS)
def test_digits_pasted_on_large_canvases_classify_like_mnist(model, mnist_test, variant: str) -> None:
    digits, labels = mnist_test
    rng = np.random.default_rng(1)
    images = [paste(digit, variant, CANVASES[i % len(CANVASES)], rng) for i, digit in enumerate(digits)]
    accuracy = _accuracy(model, images, labels)
    print(f"\n{variant}: {100 * accuracy:.1f}% of {SAMPLE}")
    assert accuracy >= 0.97


def test_normalisation_equals_the_training_pipeline(data_root: Path, mnist_test) -> None:
    raw = MNIST(str(data_root), train=False, download=False).data[:500]  # (500, 28, 28) uint8
    assert torch.equal(normalize(raw).unsqueeze(1), load_split(data_root, train=False).images[:500])


def test_an_mnist_digit_comes_back_nearly_unchanged(model, mnist_test) -> None:
    """MNIST digits are already cropped, scaled and centred: preprocessing them again changes little.

    Their strokes are evened to the middle of MNIST's own widths (STROKE_WIDTH_BAND), so a digit
    drawn thinner or bolder than that comes back thicker or thinner, in the same place; one already
    in the band comes back as it was.
    """
    digits, _ = mnist_test
    processed = [preprocess_image(digit) for digit in digits]
    assert all(p is not None for p in processed)
    correlations = np.array(
        [np.corrcoef(p.pixels.ravel(), d.ravel())[0, 1] for p, d in zip(processed, digits, strict=True)]
    )
    widths = np.array([box_stroke_width(crop_ink(d)) for d in digits])
    in_band = (widths >= STROKE_WIDTH_BAND[0]) & (widths <= STROKE_WIDTH_BAND[1])
    assert in_band.sum() >= 50 and correlations[in_band].min() > 0.99
    assert np.median(correlations) > 0.97 and np.percentile(correlations, 10) > 0.8
    # Same place and size: the bounding box moves by at most a few pixels on each side (evening a bold
    # digit pulls its outer edges in by up to half the width it loses, then the box is rescaled to 20 px).
    for p, d in zip(processed, digits, strict=True):
        rows, cols = np.nonzero(p.pixels > 0.3)
        rows_d, cols_d = np.nonzero(d > 0.3 * 255)
        box = np.array([rows.min(), rows.max(), cols.min(), cols.max()])
        assert np.abs(box - [rows_d.min(), rows_d.max(), cols_d.min(), cols_d.max()]).max() <= 3
    before = [p.digit for p in predict(model, normalize(torch.from_numpy(digits)).unsqueeze(1))]
    after = [p.digit for p in predict(model, torch.cat([p.tensor for p in processed]))]
    assert np.mean(np.array(before) == np.array(after)) >= 0.99


def test_strokes_outside_mnists_widths_are_brought_to_them(mnist_test) -> None:
    """A digit's strokes end in the band whatever they were, and one already in it is left alone."""
    low, high = STROKE_WIDTH_BAND
    for digit in mnist_test[0][:60]:
        cropped = crop_ink(digit)
        before, after = box_stroke_width(cropped), box_stroke_width(even_stroke_width(cropped))
        if low <= before <= high:
            assert even_stroke_width(cropped) is cropped
        else:
            assert low - 0.2 <= after <= high + 0.2, (before, after)


@pytest.fixture(scope="module")
def canvas_drawings() -> tuple[dict[str, list[np.ndarray]], np.ndarray]:
    """The ten digits drawn 3 times each at random sizes and places, with each of the page's pens."""
    placements = samples(3, seed=2)
    images = {
        name: [render(digit, pen=pen, size=size, left=left, top=top) for digit, size, left, top in placements]
        for name, pen in PENS.items()
    }
    return images, np.array([digit for digit, *_ in placements])


def _median_correlation(first: list, second: list) -> float:
    return float(np.median([np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(first, second, strict=True)]))


def test_thin_and_thick_pens_give_nearly_the_same_input(canvas_drawings) -> None:
    """The same drawing with the thinnest and the thickest pen: alike once evened, far apart as drawn."""
    images, _ = canvas_drawings
    evened = {name: [preprocess_image(i).pixels for i in imgs] for name, imgs in images.items()}
    as_drawn = {name: [preprocess_image(i, even_strokes=False).pixels for i in imgs] for name, imgs in images.items()}
    alike, apart = (
        _median_correlation(evened["thin"], evened["thick"]),
        _median_correlation(as_drawn["thin"], as_drawn["thick"]),
    )
    print(f"\nthin vs thick pen, median correlation of the 28×28 inputs: as drawn {apart:.3f}, evened {alike:.3f}")
    assert alike > 0.9 and apart < 0.75
    ink = {name: np.mean([f.sum() for f in fields]) for name, fields in evened.items()}
    assert max(ink.values()) / min(ink.values()) < 1.4  # as drawn: 3.5× more ink with the thick pen


def test_drawings_are_read_whatever_the_pen(model, canvas_drawings) -> None:
    images, labels = canvas_drawings
    for name, drawings in images.items():
        accuracy = _accuracy(model, drawings, labels)
        print(f"\n{name} pen ({PENS[name]} px): {100 * accuracy:.0f}% of {len(labels)}")
        assert accuracy >= 0.9, name


def test_output_is_a_normalised_28_by_28_batch_of_one(mnist_test) -> None:
    digit = preprocess_image(mnist_test[0][0])
    assert digit.tensor.shape == (1, 1, 28, 28) and digit.tensor.dtype == torch.float32
    assert digit.pixels.shape == (28, 28) and digit.pixels.min() >= 0.0 and digit.pixels.max() <= 1.0
    # The tensor is the pixels quantised to 8 bits and normalised like the training data.
    assert torch.equal(digit.tensor[0, 0], normalize(torch.from_numpy(np.round(digit.pixels * 255).astype(np.uint8))))
    # The ink fits MNIST's 20×20 box with its centre of mass near the field's centre.
    rows, cols = np.nonzero(digit.pixels)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 <= 20
    ys, xs = np.mgrid[:28, :28]
    mass = digit.pixels.sum()
    assert abs((digit.pixels * ys).sum() / mass - 14) <= 1 and abs((digit.pixels * xs).sum() / mass - 14) <= 1


@pytest.mark.parametrize(
    "blank",
    [
        np.zeros((280, 280, 4), np.uint8),  # the canvas before any stroke: fully transparent
        np.full((280, 280, 3), 255, np.uint8),  # white paper
        np.zeros((280, 280, 3), np.uint8),  # black canvas
        np.full((100, 50), 0.5, np.float32),  # uniform grey
        np.full((280, 280, 4), 255, np.uint8),  # fully filled canvas: no contrast anywhere
    ],
    ids=["transparent", "white", "black", "grey", "filled"],
)
def test_blank_images_are_empty(blank: np.ndarray) -> None:
    assert preprocess_image(blank) is None


def _disc(canvas: int, diameter: float, centre: tuple[float, float]) -> np.ndarray:
    """An anti-aliased round dot on a transparent canvas, as one click of the round pen leaves."""
    ys, xs = np.mgrid[:canvas, :canvas]
    alpha = np.clip(diameter / 2 - np.hypot(ys - centre[0], xs - centre[1]) + 0.5, 0, 1)
    image = np.zeros((canvas, canvas, 4), np.uint8)
    image[..., 3] = np.round(alpha * 255).astype(np.uint8)
    return image


@pytest.mark.parametrize("diameter", [4, 12, 22, 40])
def test_a_single_dot_is_not_a_digit(diameter: int) -> None:
    """Scaled to 20×20 a dot is a solid disc, which the model calls "0" at 99%: no prediction instead."""
    assert preprocess_image(_disc(280, diameter, (97.3, 151.6))) is None


def test_a_filled_patch_on_a_transparent_canvas_is_not_a_digit() -> None:
    image = np.zeros((280, 280, 4), np.uint8)
    image[20:260, 30:250, 3] = 255
    assert preprocess_image(image) is None


def test_a_single_stroke_is_read_as_a_one(model) -> None:
    image = np.zeros((280, 280, 4), np.uint8)
    image[40:240, 130:150, 3] = 255  # a vertical bar, 20 px wide
    digit = preprocess_image(image)
    assert digit is not None and predict(model, digit.tensor)[0].digit == 1


def test_bold_mnist_digits_are_not_mistaken_for_blobs(data_root: Path) -> None:
    """The blob rule must leave real digits alone, including the boldest ones."""
    digits = MNIST(str(data_root), train=False, download=False).data.numpy()
    ink = (digits > 127).reshape(len(digits), -1).mean(axis=1)
    boldest = digits[np.argsort(ink)[-200:]]
    assert all(preprocess_image(d) is not None for d in boldest)


def test_every_dtype_and_channel_layout_gives_the_same_digit(mnist_test) -> None:
    digit = mnist_test[0][3]
    big = np.asarray(Image.fromarray(digit).resize((140, 140), Image.BILINEAR))  # (140, 140) uint8
    rgba = np.zeros((140, 140, 4), np.uint8)
    rgba[..., 3] = big
    layouts = {
        "gray uint8": big,
        "gray (H, W, 1)": big[..., None],
        "gray float 0..1": big.astype(np.float32) / 255,
        "gray float 0..255": big.astype(np.float64),
        "gray int32": big.astype(np.int32),
        "gray + alpha": np.dstack([np.zeros_like(big), big]),
        "rgb": np.stack([big] * 3, axis=-1),
        "rgba transparent": rgba,
        "rgba opaque": np.dstack([np.stack([big] * 3, axis=-1), np.full_like(big, 255)]),
        "torch tensor": torch.from_numpy(big.copy()),
    }
    reference = preprocess_image(big).pixels
    for name, image in layouts.items():
        result = preprocess_image(image)
        assert result is not None, name
        np.testing.assert_allclose(result.pixels, reference, atol=0.02, err_msg=name)


def test_an_opaque_picture_with_a_few_clear_pixels_still_reads_its_strokes(mnist_test) -> None:
    digit = mnist_test[0][5]
    big = np.asarray(Image.fromarray(255 - digit).resize((200, 200), Image.BILINEAR))  # black on white
    rgba = np.dstack([np.stack([big] * 3, axis=-1), np.full_like(big, 255)])
    rgba[:3, :3, 3] = 0  # a transparent corner must not turn the white paper into ink
    expected = preprocess_image(np.stack([big] * 3, axis=-1)).pixels
    np.testing.assert_allclose(preprocess_image(rgba).pixels, expected, atol=0.02)


@pytest.mark.parametrize("shape", [(0, 0), (28, 28, 5), (2, 28, 28, 1), (28,)])
def test_impossible_shapes_raise_image_error(shape: tuple[int, ...]) -> None:
    with pytest.raises(ImageError):
        ink_from_image(np.zeros(shape, np.uint8))


def test_load_image_keeps_transparency_and_explains_bad_files(tmp_path: Path, mnist_test) -> None:
    rgba = np.zeros((84, 84, 4), np.uint8)
    rgba[..., 3] = np.asarray(Image.fromarray(mnist_test[0][0]).resize((84, 84)))
    Image.fromarray(rgba).save(tmp_path / "digit.png")
    loaded = load_image(tmp_path / "digit.png")
    assert loaded.shape == (84, 84, 4) and np.array_equal(loaded, rgba)
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(ImageError, match="not a readable image"):
        load_image(tmp_path / "notes.png")
    with pytest.raises(ImageError, match="no image file"):
        load_image(tmp_path / "missing.png")
