"""`Dataset`, the in-memory train/test split every loader returns, and its errors."""

import dataclasses

import numpy as np


class DatasetError(ValueError):
    """A dataset that cannot be used: unknown name, bad argument, no data.

    The message is one line meant for a user (the CLI prints it as is).
    """


class DatasetUnavailableError(DatasetError):
    """A known dataset with no local copy that could not be downloaded either.

    Besides the message, `dataset` (its name), `where` (the folder searched)
    and `reason` (why there was no download) let a caller such as the
    `keras-sam` command word the fix in its own terms.
    """

    def __init__(self, message, dataset=None, where=None, reason=None):
        super().__init__(message)
        self.dataset, self.where, self.reason = dataset, where, reason


@dataclasses.dataclass
class Dataset:
    """A classification dataset held in NumPy arrays.

    Attributes:
        name: the dataset's name (`"mnist1d"`, `"cifar10"`, ...).
        x_train, y_train, x_test, y_test: inputs and integer labels.
        num_classes: number of classes; labels lie in `[0, num_classes)`.
        kind: `"sequence"` (float inputs of shape `(steps,)` or
            `(steps, channels)`), `"image"` (float `(height, width,
            channels)` in `[0, 1]`) or `"text"` (int token ids `(steps,)`,
            0 is padding).
        vocab_size: for `"text"`, the number of token ids; else `None`.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    kind: str
    vocab_size: int | None = None

    def __post_init__(self):
        if self.kind not in ("sequence", "image", "text"):
            raise ValueError(
                "`kind` must be 'sequence', 'image' or 'text'. "
                f"Received: kind={self.kind!r}"
            )
        if len(self.x_train) != len(self.y_train) or len(self.x_test) != len(
            self.y_test
        ):
            raise ValueError(
                f"Dataset {self.name!r}: inputs and labels differ in length."
            )

    @property
    def input_shape(self):
        """The shape of one example (without the batch axis)."""
        return tuple(self.x_train.shape[1:])

    def with_train_labels(self, y_train):
        """A copy with the training labels replaced (test labels untouched)."""
        return dataclasses.replace(self, y_train=np.asarray(y_train))

    def describe(self):
        """One line: name, sizes, input shape and number of classes."""
        return (
            f"{self.name}: {len(self.y_train)} train / {len(self.y_test)} test, "
            f"input {self.input_shape}, {self.num_classes} classes ({self.kind})"
        )
