"""Image and text classification datasets from TensorFlow Datasets (tfds).

`tensorflow_datasets` is imported inside the functions, so keras_sam works
without it (install it with `pip install "keras-sam[examples]"`).
"""

import contextlib

import numpy as np

from keras_sam_bench.data.dataset import Dataset, DatasetError, DatasetUnavailableError

# How often a failed request of a download is retried. tfds's own setting
# (10, with exponential back-off) takes about 200 s to give up on a machine
# without network; one retry keeps a transient server error from failing the
# download and gives up offline in well under a second.
DOWNLOAD_RETRIES = 1
# Modules tfds's download code imports that the "examples" extra installs.
EXAMPLES_MODULES = ("importlib_resources",)


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


def _download_cause(error):
    """The innermost reason of a failed request (e.g. a failed name lookup), one line."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return _one_line(reason if isinstance(reason, BaseException) else error)


@contextlib.contextmanager
def _few_download_retries():
    """Sets tfds's retry count of a download request to `DOWNLOAD_RETRIES`."""
    try:
        from tensorflow_datasets.core.download import downloader
    except ImportError:  # another tfds layout: its own retries apply
        yield
        return
    saved = getattr(downloader, "MAX_RETRIES", None)
    downloader.MAX_RETRIES = DOWNLOAD_RETRIES
    try:
        yield
    finally:
        if saved is None:
            del downloader.MAX_RETRIES
        else:
            downloader.MAX_RETRIES = saved


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
    where = getattr(builder, "data_dir", None) or data_dir or "tfds's default data_dir"
    if not download:
        raise DatasetUnavailableError(
            f"dataset {name!r} has no local copy in {where} and downloading is "
            f"off: prepare it (`tfds build {name} --data_dir DIR`) and pass "
            "data_dir=DIR, or allow the download",
            dataset=name, where=where, reason="downloading is off")
    try:
        with _few_download_retries():
            builder.download_and_prepare()
    except ImportError as error:  # tfds's download code or the dataset's own needs
        module = error.name or "a module"
        fix = ("pip install 'keras-sam[examples]'" if module in EXAMPLES_MODULES
               else f"pip install {module}")
        raise DatasetError(
            f"downloading dataset {name!r} needs {module!r}, which is not "
            f"installed: {fix}"
        ) from None
    except Exception as error:  # network or disk failures alike
        reason = f"could not be downloaded ({_download_cause(error)})"
        raise DatasetUnavailableError(
            f"dataset {name!r} has no local copy in {where} and {reason}: prepare it "
            f"where there is network (`tfds build {name} --data_dir DIR`) and pass "
            "data_dir=DIR",
            dataset=name, where=where, reason=reason) from None
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
