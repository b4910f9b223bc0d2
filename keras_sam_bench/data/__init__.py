"""Datasets for the benchmark: offline MNIST-1D and tfds image/text datasets.

`load(name, ...)` is the single entry point: `"mnist1d"` is generated
offline; every other name is looked up in TensorFlow Datasets.
"""

from keras_sam_bench.data.dataset import Dataset, DatasetError, DatasetUnavailableError
from keras_sam_bench.data.label_noise import symmetric_label_noise
from keras_sam_bench.data.mnist1d import load_mnist1d
from keras_sam_bench.data.tfds import load_tfds


def load(name, data_dir=None, num_samples=None, download=True, seed=42):
    """Loads dataset `name` as a `Dataset`.

    Args:
        name: `"mnist1d"` or a tfds name (`"cifar10"`, `"imdb_reviews"`, ...).
        data_dir: tfds data directory (ignored for mnist1d).
        num_samples: total train + test examples; `None` means 10 000 for
            mnist1d and the full splits for tfds.
        download: whether tfds may download a missing dataset.
        seed: generator seed for mnist1d.

    Raises:
        DatasetError: unknown name or unusable arguments.
        DatasetUnavailableError: no local copy and no download possible.
    """
    if not isinstance(name, str) or not name.strip():
        raise DatasetError(f"dataset name must be a non-empty string. Received: {name!r}")
    if name.strip().lower() == "mnist1d":
        return load_mnist1d(num_samples=num_samples or 10000, seed=seed)
    return load_tfds(name.strip(), data_dir=data_dir, num_samples=num_samples, download=download)


__all__ = [
    "Dataset",
    "DatasetError",
    "DatasetUnavailableError",
    "load",
    "load_mnist1d",
    "load_tfds",
    "symmetric_label_noise",
]
