import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import socket  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items):
    """`tensorflow_only` tests need the TensorFlow backend; say so when skipped.

    On PyTorch, `jit_compile=True` means `torch.compile` of the whole step,
    which takes tens of seconds per test on CPU: those cases are `slow`
    there (`KERAS_BACKEND=torch pytest -m slow` runs them), so that the
    PyTorch matrix of CI tests the eager step of every test.
    """
    backend = keras.backend.backend()
    if backend == "torch":
        for item in items:
            params = getattr(getattr(item, "callspec", None), "params", {})
            if params.get("jit_compile") is True:
                item.add_marker(pytest.mark.slow)
    if backend == "tensorflow":
        return
    skip = pytest.mark.skip(
        reason=f"tests a TensorFlow-only feature; KERAS_BACKEND is {backend!r}")
    for item in items:
        if "tensorflow_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed_and_policy():
    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy("float32")
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture
def classification_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 12)).astype("float32")
    y = rng.integers(0, 4, size=64)
    return x, y


@pytest.fixture
def offline(monkeypatch):
    """Every name lookup fails, as without network; returns the hosts looked up."""
    pytest.importorskip("importlib_resources")  # tfds's download code imports it
    import urllib3

    lookups = []

    def getaddrinfo(host, *args, **kwargs):
        lookups.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    # A back-off between retries would only slow a failing test down.
    monkeypatch.setattr(urllib3.util.retry.Retry, "sleep", lambda self, response=None: None)
    return lookups
