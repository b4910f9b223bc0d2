"""tfds loading, on `tfds.testing.mock_data` (nothing is ever downloaded)."""

import numpy as np
import pytest

from keras_sam import data
from keras_sam.data import DatasetError, DatasetUnavailableError, load_tfds

tfds = pytest.importorskip("tensorflow_datasets")


def test_cifar10_images_become_floats_in_unit_range():
    with tfds.testing.mock_data(num_examples=40):
        dataset = load_tfds("cifar10", data_dir="/nonexistent", num_samples=30)
    assert dataset.kind == "image" and dataset.num_classes == 10
    assert dataset.x_train.shape == (24, 32, 32, 3) and dataset.x_test.shape == (6, 32, 32, 3)
    assert dataset.x_train.dtype == np.float32
    assert 0.0 <= dataset.x_train.min() and dataset.x_train.max() <= 1.0
    assert dataset.x_train.max() > 0.5  # scaled from uint8, not left at 0..255 or zeroed
    assert dataset.y_train.dtype == np.int32 and dataset.y_train.max() < 10


def test_full_splits_without_num_samples():
    with tfds.testing.mock_data(num_examples=12):
        dataset = data.load("mnist")
    assert len(dataset.y_train) == 12 and len(dataset.y_test) == 12
    assert dataset.input_shape == (28, 28, 1)


def test_imdb_reviews_texts_become_padded_token_ids():
    with tfds.testing.mock_data(num_examples=50):
        dataset = load_tfds("imdb_reviews", num_samples=40, sequence_length=16, vocab_size=100)
    assert dataset.kind == "text" and dataset.num_classes == 2
    assert dataset.x_train.shape == (32, 16) and dataset.x_test.shape == (8, 16)
    assert dataset.x_train.dtype == np.int32
    assert 2 < dataset.vocab_size <= 100
    assert dataset.x_train.max() < dataset.vocab_size
    assert (dataset.x_train > 1).any()  # real token ids, not only padding/OOV


def test_unknown_name_is_a_clear_dataset_error():
    with pytest.raises(DatasetError, match="unknown dataset 'no_such_dataset'"):
        data.load("no_such_dataset")


def test_no_local_copy_and_no_download_is_unavailable(tmp_path):
    with pytest.raises(DatasetUnavailableError, match="no local copy in .*downloading is off"):
        load_tfds("cifar10", data_dir=str(tmp_path), download=False)


def test_failed_download_is_unavailable_with_the_cause(tmp_path, monkeypatch):
    def unreachable(self, *args, **kwargs):
        raise ConnectionError("Failed to resolve 'www.cs.toronto.edu'")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", unreachable)
    with pytest.raises(DatasetUnavailableError) as info:
        load_tfds("cifar10", data_dir=str(tmp_path))
    message = str(info.value)
    assert "could not be downloaded" in message and "ConnectionError" in message
    assert "\n" not in message
