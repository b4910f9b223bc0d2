"""Symmetric label noise for the training labels of a benchmark."""

import numpy as np


def symmetric_label_noise(labels, fraction, num_classes, seed=0):
    """Returns a copy of `labels` with a `fraction` of them flipped at random.

    Exactly `round(fraction * len(labels))` examples, chosen uniformly without
    replacement, get a label drawn uniformly from the *other* classes, so the
    share of wrong labels is `fraction` (the "symmetric" noise of the SAM
    paper's label-noise experiments). Apply it to training labels only; test
    labels must stay clean. The input array is never modified.

    Args:
        labels: 1-D integer array with values in `[0, num_classes)`.
        fraction: share of labels to corrupt, `0 <= fraction < 1`.
        num_classes: number of classes, >= 2.
        seed: seed of the draw; the same seed gives the same noisy labels.

    Returns:
        An array of the same shape and dtype as `labels`.

    Example:

    ```python
    noisy = symmetric_label_noise(y_train, 0.3, num_classes=10, seed=0)
    (noisy != y_train).mean()  # 0.3
    ```
    """
    labels = np.asarray(labels)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating)):
        raise ValueError(f"label noise must be a number. Received: {fraction!r}")
    if not 0.0 <= fraction < 1.0:
        raise ValueError(
            f"label noise must satisfy 0 <= noise < 1. Received: {fraction!r}"
        )
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2. Received: {num_classes!r}")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            "labels must be a 1-D integer array. Received: "
            f"shape={labels.shape}, dtype={labels.dtype}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}).")
    noisy = labels.copy()
    count = int(round(fraction * labels.size))
    if count == 0:
        return noisy
    rng = np.random.default_rng(seed)
    chosen = rng.choice(labels.size, size=count, replace=False)
    # A shift in [1, num_classes) never maps a label onto itself.
    shift = rng.integers(1, num_classes, size=count)
    noisy[chosen] = (labels[chosen] + shift) % num_classes
    return noisy
