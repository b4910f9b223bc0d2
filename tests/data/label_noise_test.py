import numpy as np
import pytest

from keras_sam_bench.data import Dataset, symmetric_label_noise


def _labels(n=5000, classes=10, seed=1):
    return np.random.default_rng(seed).integers(0, classes, size=n).astype(np.int32)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.3, 0.55])
def test_flips_exactly_the_requested_fraction_to_other_classes(fraction):
    labels = _labels()
    noisy = symmetric_label_noise(labels, fraction, num_classes=10, seed=0)
    flipped = noisy != labels
    assert flipped.sum() == round(fraction * labels.size)
    assert noisy.dtype == labels.dtype and noisy.shape == labels.shape
    assert noisy.min() >= 0 and noisy.max() < 10


def test_new_labels_are_uniform_over_the_other_classes():
    labels = np.zeros(20000, np.int32)  # every flip must land on classes 1..4
    noisy = symmetric_label_noise(labels, 0.5, num_classes=5, seed=3)
    counts = np.bincount(noisy[noisy != 0], minlength=5)
    assert counts[0] == 0
    # 10 000 flips over 4 classes: 2500 each, sd ~43.
    assert np.all(np.abs(counts[1:] - 2500) < 250), counts


def test_seeded_and_does_not_modify_its_input():
    labels = _labels()
    before = labels.copy()
    a = symmetric_label_noise(labels, 0.3, 10, seed=7)
    b = symmetric_label_noise(labels, 0.3, 10, seed=7)
    c = symmetric_label_noise(labels, 0.3, 10, seed=8)
    np.testing.assert_array_equal(labels, before)
    np.testing.assert_array_equal(a, b)
    assert np.any(a != c)


def test_applied_to_a_dataset_touches_train_labels_only():
    rng = np.random.default_rng(0)
    data = Dataset(
        name="toy", x_train=rng.normal(size=(1000, 3)), y_train=_labels(1000),
        x_test=rng.normal(size=(200, 3)), y_test=_labels(200, seed=2),
        num_classes=10, kind="sequence",
    )
    test_before = data.y_test.copy()
    noisy = data.with_train_labels(
        symmetric_label_noise(data.y_train, 0.3, data.num_classes, seed=0)
    )
    assert (noisy.y_train != data.y_train).mean() == pytest.approx(0.3)
    np.testing.assert_array_equal(noisy.y_test, test_before)
    assert noisy.y_test is data.y_test


@pytest.mark.parametrize("fraction", [1.0, -0.1, 1.5, float("nan"), "0.3", True])
def test_rejects_fractions_outside_zero_one(fraction):
    with pytest.raises(ValueError, match="label noise"):
        symmetric_label_noise(_labels(), fraction, 10)


def test_rejects_labels_out_of_range_and_non_integer_labels():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        symmetric_label_noise(np.array([0, 1, 3]), 0.5, 3)
    with pytest.raises(ValueError, match="integer"):
        symmetric_label_noise(np.array([0.0, 1.0]), 0.5, 3)
