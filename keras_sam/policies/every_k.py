"""`EveryK`: perturb on every k-th step (LookSAM's period)."""

import numbers

import keras
from keras import ops

from keras_sam.policies.policy import Policy


@keras.saving.register_keras_serializable(package="keras_sam")
class EveryK(Policy):
    """Takes the perturbed pass on steps 0, k, 2k, ... and skips the others.

    Use it to spend the second pass on a fixed share `1/k` of the steps, as
    LookSAM does. The step is the optimizer's iteration counter before the
    step, so the period continues across `fit` calls and checkpoints.

    Rule: perturb iff `step mod k == 0`.

    Args:
        k: int >= 1, the period (1 perturbs every step).
        **kwargs: `keras.layers.Layer` arguments such as `name`.

    Example:

    ```python
    policy = keras_sam.policies.EveryK(k=5)
    policy.should_perturb(gradients, optimizer.iterations)
    ```
    """

    def __init__(self, k=5, **kwargs):
        super().__init__(**kwargs)
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(
                f"Argument `k` must be an integer >= 1. Received: k={k!r}"
            )
        self.k = int(k)

    def should_perturb(self, gradients, step):
        """True on steps 0, k, 2k, ...: `step mod k == 0`."""
        del gradients
        return ops.equal(ops.mod(step, self.k), 0)

    def get_config(self):
        return {**super().get_config(), "k": self.k}
