"""Image and text classification datasets from TensorFlow Datasets (tfds).

`tensorflow_datasets` is imported inside the functions, so keras_sam works
without it (install it with `pip install "keras-sam[examples]"`).
"""

import numpy as np

from keras_sam.data.dataset import Dataset, DatasetError, DatasetUnavailableError


def _import_tfds(name):
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise DatasetError(
            f"dataset {name!r} needs tensorflow-datasets, which is not "
            "installed: pip install 'keras-sam[examples]'"
        ) from None
    return tfds


def _one_line(error):
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}"


def tfds_builder(name, data_dir=None, download=True):
    """Returns a prepared tfds builder for `name`, downloading it if needed.

    Args:
        name: a tfds name, optionally with config/version (`"cifar10"`).
        data_dir: where tfds keeps its copies (tfds's default when `None`).
        download: whether a missing local copy may be downloaded.

    Raises:
        DatasetError: `name` is not a tfds dataset.
        DatasetUnavailableError: no local copy and it could not be downloaded
            (or `download=False`).
    """
    tfds = _import_tfds(name)
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise DatasetError(
            f"unknown dataset {name!r}: use 'mnist1d' or a tensorflow-datasets "
            "name such as 'cifar10' or 'imdb_reviews'"
        ) from None
    except Exception as error:  # tfds raises many kinds for a bad name/config
        raise DatasetError(f"cannot open dataset {name!r}: {_one_line(error)}") from None
    if builder.is_prepared():
        return builder
    where = data_dir or "tfds's default data_dir"
    if not download:
        raise DatasetUnavailableError(
            f"dataset {name!r} has no local copy in {where} and downloading is "
            f"off: prepare it there (`tfds build {name} --data_dir DIR`) or allow "
            "the download"
        )
    try:
        builder.download_and_prepare()
    except Exception as error:  # network, disk or dependency failures alike
        raise DatasetUnavailableError(
            f"dataset {name!r} has no local copy in {where} and could not be "
            f"downloaded ({_one_line(error)})"
        ) from None
    return builder


def _split_names(builder):
    splits = set(builder.info.splits.keys())
    if not splits:  # tfds.testing.mock_data with policy USE_CODE
        return "train", "test"
    if "train" not in splits:
        raise DatasetError(f"dataset {builder.name!r} has no 'train' split")
    for test in ("test", "validation"):
        if test in splits:
            return "train", test
    raise DatasetError(f"dataset {builder.name!r} has no 'test' or 'validation' split")


def _to_numpy(tfds, builder, split, count):
    dataset = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False)
    if count is not None:
        dataset = dataset.take(count)
    inputs, labels = [], []
    for x, y in tfds.as_numpy(dataset.batch(1024)):
        inputs.append(x)
        labels.append(y)
    if not labels:
        raise DatasetError(f"split {split!r} of {builder.name!r} is empty")
    return np.concatenate(inputs), np.concatenate(labels).astype(np.int32)


def _vectorize(texts_train, texts_test, vocab_size, sequence_length):
    import keras

    vectorizer = keras.layers.TextVectorization(
        max_tokens=vocab_size, output_sequence_length=sequence_length
    )
    vectorizer.adapt(texts_train, batch_size=1024)
    encode = lambda texts: np.asarray(vectorizer(texts), np.int32)  # noqa: E731
    return encode(texts_train), encode(texts_test), vectorizer.vocabulary_size()


def load_tfds(
    name,
    data_dir=None,
    num_samples=None,
    download=True,
    vocab_size=10000,
    sequence_length=200,
):
    """Loads an image or text classification dataset from tfds into NumPy.

    Images become float32 in `[0, 1]`; texts are tokenized by a
    `keras.layers.TextVectorization` adapted on the training texts into int32
    ids of length `sequence_length` (0 is padding). With `num_samples`, the
    first `0.8 * num_samples` training and the first `0.2 * num_samples` test
    examples are used.

    Args:
        name: tfds name, e.g. `"cifar10"`, `"mnist"`, `"imdb_reviews"`.
        data_dir: tfds data directory (tfds's default when `None`).
        num_samples: total examples to use; `None` for the full splits.
        download: whether a missing local copy may be downloaded.
        vocab_size: vocabulary size for text datasets.
        sequence_length: tokens per text example.

    Returns:
        A `Dataset` of kind `"image"` or `"text"`.

    Example:

    ```python
    data = load_tfds("cifar10", data_dir="~/tensorflow_datasets", num_samples=5000)
    ```
    """
    if num_samples is not None and num_samples < 2:
        raise DatasetError(f"num_samples must be >= 2. Received: {num_samples}")
    tfds = _import_tfds(name)
    builder = tfds_builder(name, data_dir=data_dir, download=download)
    keys = builder.info.supervised_keys
    if not keys or len(keys) != 2:
        raise DatasetError(f"dataset {name!r} has no (input, label) pairs")
    input_feature = builder.info.features[keys[0]]
    label_feature = builder.info.features[keys[1]]
    num_classes = getattr(label_feature, "num_classes", None)
    if isinstance(input_feature, tfds.features.Image):
        kind = "image"
    elif isinstance(input_feature, tfds.features.Text):
        kind = "text"
    else:
        kind = None
    if kind is None or not num_classes:
        raise DatasetError(
            f"dataset {name!r} is not an image or text classification dataset"
        )
    train_split, test_split = _split_names(builder)
    n_train = n_test = None
    if num_samples is not None:
        n_train = max(1, int(round(0.8 * num_samples)))
        n_test = max(1, num_samples - n_train)
    x_train, y_train = _to_numpy(tfds, builder, train_split, n_train)
    x_test, y_test = _to_numpy(tfds, builder, test_split, n_test)
    vocabulary = None
    if kind == "image":
        x_train = x_train.astype(np.float32) / 255.0
        x_test = x_test.astype(np.float32) / 255.0
    else:
        x_train, x_test, vocabulary = _vectorize(
            x_train, x_test, vocab_size, sequence_length
        )
    return Dataset(
        name=name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=int(num_classes),
        kind=kind,
        vocab_size=vocabulary,
    )
