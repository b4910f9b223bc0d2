"""Schedules for `rho` and the other radii of the variants.

A radius (`rho` of every variant, GAM's `rho_prime`) takes a float or a
schedule in the Keras learning-rate-schedule convention: a
`keras.optimizers.schedules.LearningRateSchedule`, called with the
optimizer's iteration count, e.g.
`keras.optimizers.schedules.CosineDecay(0.05, decay_steps=1000)`. The step
evaluates it before the variant runs (`Variant.update_hyperparameters`), on
every backend, inside the compiled step: no retrace, no host round trip.

A schedule that needs the optimizer's learning rate subclasses
`RhoSchedule`: it is called as `schedule(step, learning_rate,
initial_learning_rate)`, with the rate of this step and the rate of the
first step the variant trained (recorded in the variant's state, so it is
saved with the model). The rate is the optimizer's current one, whatever
sets it: its schedule, a `LearningRateScheduler` or `ReduceLROnPlateau`
callback, the inner optimizer of a `LossScaleOptimizer`.
`FollowLearningRate` is the one GSAM and GAM use.
"""

import math
import numbers

import keras
from keras import ops

LearningRateSchedule = keras.optimizers.schedules.LearningRateSchedule


@keras.saving.register_keras_serializable(package="keras_sam")
class RhoSchedule(LearningRateSchedule):
    """Base class of the schedules that read the optimizer's learning rate.

    Subclasses implement `__call__(step, learning_rate,
    initial_learning_rate)` (all scalar tensors: the optimizer's iteration
    count, its learning rate for this step, and its learning rate at the
    first step the variant trained) and `get_config()`. A plain `LearningRateSchedule` is called with the
    step only.
    """

    def __call__(self, step, learning_rate, initial_learning_rate):
        raise NotImplementedError(
            f"{type(self).__name__} must implement `__call__(step, "
            "learning_rate, initial_learning_rate)`."
        )

    def get_config(self):
        """The schedule's constructor arguments (none here), for saving."""
        return {}


@keras.saving.register_keras_serializable(package="keras_sam")
class FollowLearningRate(RhoSchedule):
    """`rho` proportional to the optimizer's learning rate, as GSAM and GAM.

    `rho_t = rho_min + (rho_max - rho_min) * (lr_t - lr_min) /
    (lr_max - lr_min)`, with `lr_t` the optimizer's learning rate of step
    `t` (whatever sets it: the optimizer's schedule, a callback such as
    `LearningRateScheduler` or `ReduceLROnPlateau`; under mixed precision
    the `LossScaleOptimizer`'s inner rate): `rho_t = rho_max` when
    `lr_t = lr_max` and `rho_min` when `lr_t = lr_min`. Where `lr_max = lr_min`, `rho_t = rho_max`. Clipped only
    at 0 (a rate far below `lr_min` would give a negative radius): a rate
    above `lr_max` gives a radius above `rho_max`.

    Args:
        rho_max: float > 0, the radius at `lr_max`.
        rho_min: float >= 0, the radius at `lr_min` (default 0.0).
        lr_max: float > lr_min, or None (default): the optimizer's learning
            rate at the first step the variant trained, recorded then in the
            variant's state and saved with the model, so a resumed run keeps
            it (a variant rebuilt for a new set of trainable variables, after
            freezing or unfreezing, records it again). With a warmup, pass
            the peak rate here.
        lr_min: float >= 0, the rate at which the radius is `rho_min`
            (default 0.0, the end of a cosine decay to zero).

    Example:

    ```python
    lr = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=10_000)
    variant = keras_sam.variants.SAM(
        rho=keras_sam.schedules.FollowLearningRate(0.05, rho_min=0.01)
    )
    model = keras_sam.SAMModel(inner, variant=variant)
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
    ```

    Reference:
        Zhuang et al., "Surrogate Gap Guided Sharpness-Aware Minimization",
        ICLR 2022, arXiv:2203.08065 (the radius schedule, `rho_t` in their
        Algorithm 1); code: `juntang-zhuang/GSAM`, `ProportionScheduler`.
    """

    def __init__(self, rho_max, rho_min=0.0, lr_max=None, lr_min=0.0):
        self.rho_max = float(_check("rho_max", rho_max, low=0.0))
        self.rho_min = float(_check("rho_min", rho_min, low=0.0, closed=True))
        self.lr_min = float(_check("lr_min", lr_min, low=0.0, closed=True))
        if lr_max is not None:
            _check("lr_max", lr_max, low=self.lr_min)
            lr_max = float(lr_max)
        self.lr_max = lr_max

    def __call__(self, step, learning_rate, initial_learning_rate):
        del step
        lr = ops.cast(learning_rate, "float32")
        lr_max = initial_learning_rate if self.lr_max is None else self.lr_max
        lr_max = ops.cast(lr_max, "float32")
        span = lr_max - self.lr_min
        fraction = ops.where(
            span > 0.0, (lr - self.lr_min) / ops.where(span > 0.0, span, 1.0), 1.0
        )
        rho = self.rho_min + (self.rho_max - self.rho_min) * fraction
        return ops.maximum(rho, 0.0)

    def get_config(self):
        """The constructor arguments, for saving with the model."""
        return {
            "rho_max": self.rho_max,
            "rho_min": self.rho_min,
            "lr_max": self.lr_max,
            "lr_min": self.lr_min,
        }


def _check(name, value, low, closed=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or (
        not math.isfinite(value) or value < low or (value == low and not closed)
    ):
        bound = ">=" if closed else ">"
        raise ValueError(
            f"Argument `{name}` of FollowLearningRate must be a number "
            f"{bound} {low}. Received: {name}={value!r}"
        )
    return value


def is_schedule(value):
    """Whether `value` is a schedule (as Keras optimizers accept)."""
    return isinstance(value, LearningRateSchedule)


def deserialize(value):
    """A schedule from its serialized config; anything else unchanged."""
    if isinstance(value, dict) and "class_name" in value:
        return keras.saving.deserialize_keras_object(value)
    return value


def evaluate(schedule, step, learning_rate, first_learning_rate):
    """`schedule`'s value at `step`, a float32 scalar tensor.

    A `RhoSchedule` also reads the step's `learning_rate` and the rate of
    the first step the variant trained (`first_learning_rate`).
    """
    if isinstance(schedule, RhoSchedule):
        if learning_rate is None:
            raise ValueError(
                f"{type(schedule).__name__} follows the optimizer's learning "
                "rate, so it needs the step's `learning_rate`. Received: "
                "learning_rate=None"
            )
        value = schedule(step, learning_rate, first_learning_rate)
    else:
        value = schedule(step)
    return ops.cast(value, "float32")
