"""Shared math and argument checks: the floor every other module may import.

Imports Keras only. `global_norm` and `global_dot` are taken over lists of
tensors together; `check_range` raises the library's `ValueError` naming
the argument, the value and the allowed range.
"""

import math
import numbers

import keras
from keras import ops


def global_norm(tensors):
    """The L2 norm over all tensors together (float32)."""
    return ops.sqrt(sum(ops.sum(ops.square(t)) for t in tensors))


def global_dot(a, b):
    """The inner product of two lists of tensors, summed over all of them."""
    return sum(ops.sum(x * y) for x, y in zip(a, b))


def check_range(name, value, low=None, high=None, low_open=True, high_open=True):
    """Raises `ValueError` unless `value` is a finite number in the range.

    `low`/`high` are optional; `low_open`/`high_open` choose strict (`<`) or
    inclusive (`<=`) bounds.
    """
    if isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
        raise ValueError(
            f"Argument `{name}` takes a number, not a schedule (only the "
            "radii, e.g. `rho`, take a schedule, in a constructor). "
            f"Received: {name}={value!r}"
        )
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"Argument `{name}` must be a number. Received: {name}={value!r}"
        )
    bad = not math.isfinite(value)
    if low is not None:
        bad |= value <= low if low_open else value < low
    if high is not None:
        bad |= value >= high if high_open else value > high
    if bad:
        left = "" if low is None else f"{low} {'<' if low_open else '<='} "
        right = "" if high is None else f" {'<' if high_open else '<='} {high}"
        raise ValueError(
            f"Argument `{name}` must satisfy {left}{name}{right}. "
            f"Received: {name}={value!r}"
        )
    return value
