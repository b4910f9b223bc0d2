import mnist1d.data
import numpy as np
import pytest

from keras_sam_bench import data
from keras_sam_bench.data import DatasetError, load_mnist1d


@pytest.fixture(autouse=True)
def _no_download(monkeypatch):
    """Any download path of the mnist1d package fails the test."""

    def forbidden(*args, **kwargs):
        raise AssertionError("mnist1d must be generated offline, never downloaded")

    monkeypatch.setattr(mnist1d.data, "get_dataset", forbidden)
    monkeypatch.setattr(mnist1d.data.requests, "get", forbidden)


def test_generates_an_80_20_split_of_signals_of_length_40():
    dataset = load_mnist1d(num_samples=600, seed=3)
    assert dataset.x_train.shape == (480, 40) and dataset.x_test.shape == (120, 40)
    assert dataset.x_train.dtype == np.float32 and dataset.y_train.dtype == np.int32
    assert set(np.unique(np.concatenate([dataset.y_train, dataset.y_test]))) == set(range(10))
    assert dataset.num_classes == 10 and dataset.kind == "sequence"
    # make_dataset standardizes the signals.
    allx = np.concatenate([dataset.x_train, dataset.x_test])
    assert abs(allx.mean()) < 1e-3 and allx.std() == pytest.approx(1.0, abs=1e-3)


def test_same_seed_same_data_other_seed_other_data():
    a = load_mnist1d(num_samples=200, seed=1)
    b = load_mnist1d(num_samples=200, seed=1)
    c = load_mnist1d(num_samples=200, seed=2)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.allclose(a.x_train, c.x_train)


def test_leaves_numpy_global_random_state_alone():
    np.random.seed(123)
    expected = np.random.random(3)
    np.random.seed(123)
    load_mnist1d(num_samples=100)
    np.testing.assert_array_equal(np.random.random(3), expected)


@pytest.mark.parametrize("num_samples", [10, 0, 2.5, True])
def test_rejects_bad_sizes(num_samples):
    with pytest.raises(DatasetError, match="num_samples"):
        load_mnist1d(num_samples=num_samples)


def test_load_defaults_to_10000_samples(monkeypatch):
    calls = []
    monkeypatch.setattr(
        data, "load_mnist1d", lambda num_samples, seed: calls.append(num_samples)
    )
    data.load("mnist1d")
    data.load("MNIST1D", num_samples=300)
    assert calls == [10000, 300]


def test_load_rejects_an_empty_name():
    with pytest.raises(DatasetError, match="non-empty"):
        data.load("  ")


def test_a_missing_mnist1d_package_names_the_install_command(monkeypatch):
    import sys

    from keras_sam_bench.data import DatasetError, load_mnist1d

    monkeypatch.setitem(sys.modules, "mnist1d", None)
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(DatasetError, match=r"pip install 'keras-sam\[benchmark\]'"):
        load_mnist1d(num_samples=100)
