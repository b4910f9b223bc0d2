"""`AdaptivePolicy`: AE-SAM's switch on the squared gradient norm."""

import keras
from keras import ops

from keras_sam.basics import check_range, global_dot
from keras_sam.executor import mean_over_replicas
from keras_sam.policies.policy import Policy


@keras.saving.register_keras_serializable(package="keras_sam")
class AdaptivePolicy(Policy):
    """Perturbs where the squared gradient norm is large for its recent history.

    Use it to take SAM's second pass only in sharp regions (AE-SAM,
    AE-LookSAM): `||g||^2` approximates first-order sharpness, so a value high
    above its moving mean flags a step worth perturbing. The threshold
    coefficient moves linearly from `lambda_2` (first step) to `lambda_1`
    (step T), so with `lambda_1 < lambda_2` SAM steps get more frequent as
    training goes on.

    Rule: `q = ||g||^2`, `mu_t = delta * mu_{t-1} + (1 - delta) * q`,
    `var_t = delta * var_{t-1} + (1 - delta) * (q - mu_t)^2`
    (`mu_{-1} = var_{-1} = 0`), `c_t = (t/T) * lambda_1 + (1 - t/T) * lambda_2`
    (`c = lambda_1` for `t >= T` or unknown T); perturb iff
    `q >= mu_t + c_t * sqrt(var_t)`. `t` is the optimizer's iteration
    counter before the step; the statistics update every step in the graph.

    The statistics (`moving_mean`, `moving_variance`), the thresholds and T
    (`total_steps`, 0 = unknown) are non-trainable variables: a callback can
    set them without retracing, and checkpoints save them.
    `keras_sam.callbacks.AdaptiveSAMCallback` sets T from `fit` and logs the
    statistics (see docs/variants/ae_sam.md).

    Args:
        delta: float in (0, 1), forgetting rate of the moving statistics.
        lambda_1: float, threshold coefficient at the end of the run.
        lambda_2: float, threshold coefficient at the start of the run.
        **kwargs: `keras.layers.Layer` arguments such as `name`.

    Example:

    ```python
    policy = keras_sam.policies.AdaptivePolicy(lambda_1=-1.0, lambda_2=1.0)
    policy.total_steps.assign(1000.0)
    ```

    Reference:
        Jiang et al., "An Adaptive Policy to Employ Sharpness-Aware
        Minimization", ICLR 2023, arXiv:2304.14647.
    """

    def __init__(self, delta=0.9, lambda_1=-1.0, lambda_2=1.0, **kwargs):
        super().__init__(**kwargs)
        self.delta = float(check_range("delta", delta, low=0.0, high=1.0))
        check_range("lambda_1", lambda_1)
        check_range("lambda_2", lambda_2)
        self._initial_lambdas = (float(lambda_1), float(lambda_2))
        self.lambda_1 = self.scalar("lambda_1", float(lambda_1))
        self.lambda_2 = self.scalar("lambda_2", float(lambda_2))
        self.total_steps = self.scalar("total_steps", 0.0)
        self.moving_mean = self.scalar("moving_mean", 0.0)
        self.moving_variance = self.scalar("moving_variance", 0.0)

    def coefficient(self, step):
        """`c_t` for step `t`: `lambda_2` at 0, linear to `lambda_1` at T."""
        t = ops.cast(step, "float32")
        total = ops.convert_to_tensor(self.total_steps)
        progress = ops.where(
            total > 0, ops.minimum(t / ops.maximum(total, 1.0), 1.0), 1.0
        )
        return progress * self.lambda_1 + (1.0 - progress) * self.lambda_2

    def should_perturb(self, gradients, step):
        """Updates `mu_t` and `var_t` with `q = ||g||^2`; `q >= mu_t + c_t * sqrt(var_t)`."""
        delta = self.delta
        # Replica mean, so every replica takes the same branch.
        squared_norm = mean_over_replicas(global_dot(gradients, gradients))
        mean = delta * self.moving_mean + (1.0 - delta) * squared_norm
        variance = delta * self.moving_variance + (1.0 - delta) * ops.square(
            squared_norm - mean
        )
        self.moving_mean.assign(mean)
        self.moving_variance.assign(variance)
        threshold = mean + self.coefficient(step) * ops.sqrt(variance)
        return ops.greater_equal(squared_norm, threshold)

    def get_config(self):
        # The constructor's thresholds; scheduled values are saved as weights.
        lambda_1, lambda_2 = self._initial_lambdas
        return {
            **super().get_config(),
            "delta": self.delta,
            "lambda_1": lambda_1,
            "lambda_2": lambda_2,
        }
