"""MNIST-1D, generated offline by the `mnist1d` package (nothing is downloaded)."""

import numpy as np

from keras_sam_bench.data.dataset import Dataset, DatasetError


def load_mnist1d(num_samples=10000, seed=42, train_split=0.8):
    """Generates MNIST-1D: 1-D signals of length 40 in 10 classes.

    Uses `mnist1d.data.make_dataset` with the package's default arguments
    (the settings of Greydanus, "Scaling down Deep Learning", 2020) and
    `num_samples` examples, split `train_split` / rest into train and test.
    The default 10 000 samples give 8 000 train / 2 000 test. Only the
    generator runs: `mnist1d.data.get_dataset`, which may download, is never
    called. NumPy's global random state is restored afterwards (the generator
    seeds it).

    Args:
        num_samples: total number of examples (a multiple of 10 is used:
            the generator makes `num_samples // 10` per class), >= 20.
        seed: seed of the generator; the same seed gives the same data.
        train_split: share of the examples used for training, in (0, 1).

    Returns:
        A `Dataset` with float32 inputs of shape `(40,)` and int32 labels.

    Example:

    ```python
    data = load_mnist1d(num_samples=2000)
    data.x_train.shape  # (1600, 40)
    ```
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, int):
        raise DatasetError(f"num_samples must be an integer. Received: {num_samples!r}")
    if num_samples < 20:
        raise DatasetError(
            f"mnist1d needs num_samples >= 20 (2 per class). Received: {num_samples}"
        )
    if not 0.0 < train_split < 1.0:
        raise DatasetError(
            f"train_split must be in (0, 1). Received: {train_split!r}"
        )
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise DatasetError(
            "dataset 'mnist1d' needs the mnist1d package, which is not "
            "installed: pip install 'keras-sam[benchmark]'"
        ) from None

    args = get_dataset_args()
    args.num_samples = int(num_samples)
    args.train_split = float(train_split)
    args.seed = int(seed)
    state = np.random.get_state()
    try:
        raw = make_dataset(args)
    finally:
        np.random.set_state(state)
    return Dataset(
        name="mnist1d",
        x_train=np.asarray(raw["x"], np.float32),
        y_train=np.asarray(raw["y"], np.int32),
        x_test=np.asarray(raw["x_test"], np.float32),
        y_test=np.asarray(raw["y_test"], np.int32),
        num_classes=10,
        kind="sequence",
    )
