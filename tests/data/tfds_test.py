"""tfds loading, on `tfds.testing.mock_data` (nothing is ever downloaded).

Offline (name lookups fail; simulated, so the tests do not depend on the
machine's network) a missing dataset fails at once: no download without
`download=True`, and one retry per request instead of tfds's ten with
exponential back-off (about 200 s).
"""

import pathlib
import time
import tomllib

import numpy as np
import pytest

from keras_sam_bench import data
from keras_sam_bench.data import DatasetError, DatasetUnavailableError, load_tfds
from keras_sam_bench.data import tfds as tfds_loader

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


def test_no_local_copy_and_no_download_is_unavailable(tmp_path, monkeypatch):
    def no_download(self, *args, **kwargs):
        raise AssertionError("download attempted with download=False")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_download)
    with pytest.raises(DatasetUnavailableError, match="no local copy in .*downloading is off") as info:
        load_tfds("cifar10", data_dir=str(tmp_path), download=False)
    assert info.value.dataset == "cifar10" and info.value.reason == "downloading is off"
    assert info.value.where.startswith(str(tmp_path / "cifar10"))


def test_offline_a_download_fails_at_once_with_the_cause(tmp_path, offline):
    from tensorflow_datasets.core.download import downloader

    retries = downloader.MAX_RETRIES
    start = time.monotonic()
    with pytest.raises(DatasetUnavailableError) as info:
        load_tfds("mnist", data_dir=str(tmp_path))
    assert time.monotonic() - start < 30  # tfds's own retries take about 200 s here
    # mnist downloads 4 files: each request is tried once and retried once.
    assert len(offline) <= 4 * (tfds_loader.DOWNLOAD_RETRIES + 1)
    assert downloader.MAX_RETRIES == retries  # tfds's setting restored
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"dataset 'mnist' has no local copy in {tmp_path / 'mnist'}")
    assert "could not be downloaded (NameResolutionError: " in message
    assert "Failed to resolve" in message and message.endswith("and pass data_dir=DIR")


def test_a_missing_module_of_the_download_names_the_extra(tmp_path, monkeypatch):
    def missing(self, *args, **kwargs):
        raise ModuleNotFoundError("No module named 'importlib_resources'",
                                  name="importlib_resources")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", missing)
    with pytest.raises(DatasetError, match=r"^downloading dataset 'mnist' needs "
                       r"'importlib_resources', which is not installed: pip install "
                       r"'keras-sam\[examples\]'$"):
        load_tfds("mnist", data_dir=str(tmp_path))


def test_the_examples_extra_installs_what_the_download_imports():
    # tensorflow-datasets' DatasetBuilder imports importlib_resources (a
    # requirement of its own only on Python < 3.9) to download a dataset.
    source = pathlib.Path(tfds.core.dataset_builder.__file__).read_text()
    root = pathlib.Path(__file__).resolve().parents[2]
    extra = tomllib.loads((root / "pyproject.toml").read_text())[
        "project"]["optional-dependencies"]["examples"]
    names = {requirement.split(">")[0].split("=")[0].replace("-", "_")
             for requirement in extra}
    assert "import importlib_resources" in source
    assert "importlib_resources" in tfds_loader.EXAMPLES_MODULES
    assert set(tfds_loader.EXAMPLES_MODULES) <= names


def test_failed_download_is_unavailable_with_the_cause(tmp_path, monkeypatch):
    def unreachable(self, *args, **kwargs):
        raise ConnectionError("Failed to resolve 'www.cs.toronto.edu'")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", unreachable)
    with pytest.raises(DatasetUnavailableError) as info:
        load_tfds("cifar10", data_dir=str(tmp_path))
    message = str(info.value)
    assert "could not be downloaded" in message and "ConnectionError" in message
    assert "\n" not in message
