"""AE-SAM: SAM only on steps whose gradient norm flags a sharp region."""

import keras

from keras_sam.callbacks.adaptive_sam_callback import AdaptiveSAMCallback
from keras_sam.policies.adaptive_policy import AdaptivePolicy
from keras_sam.variants.sam import SAM


@keras.saving.register_keras_serializable(package="keras_sam")
class AESAM(SAM):
    """AE-SAM: an adaptive policy that takes SAM steps in sharp regions only.

    Use it for close to SAM's accuracy at a fraction of its extra cost: the
    squared gradient norm is compared with its moving mean and standard
    deviation, and only unusually large ones (a sharp region, to first order)
    get SAM's second pass. The defaults give about half SAM steps; the
    share is logged as `sam_fraction`. Cost `1 + sam_fraction` passes per
    step. `fit` learns the run's total steps T through
    `keras_sam.callbacks.AdaptiveSAMCallback`, added automatically, which also
    logs the statistics (docs/variants/ae_sam.md explains how they relate).

    Update rule: `q = ||g||^2`, `mu_t = delta * mu_{t-1} + (1 - delta) * q`,
    `var_t = delta * var_{t-1} + (1 - delta) * (q - mu_t)^2`,
    `c_t = (t/T) * lambda_1 + (1 - t/T) * lambda_2`; if
    `q >= mu_t + c_t * sqrt(var_t)` the optimizer receives
    `grad L(w + rho * g / (||g|| + epsilon))` (2 passes), else `g` (1 pass).

    Args:
        rho: float > 0, radius of SAM's L2 ball (0.05, as SAM).
        delta: float in (0, 1), forgetting rate of the moving statistics
            (0.9).
        lambda_1: float, threshold coefficient at the end of the run (-1.0).
        lambda_2: float, threshold coefficient at the start (1.0). With
            Gaussian `q`, `(-1, 1)` gives about 50 % SAM steps.
        epsilon: float >= 0 added to the norm.

    Example:

    ```python
    model = keras_sam.SAMModel(inner, variant=keras_sam.variants.AESAM())
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=10)  # logs sam_fraction, ae_mu, ae_sigma, ae_c
    ```

    Reference:
        Jiang et al., "An Adaptive Policy to Employ Sharpness-Aware
        Minimization", ICLR 2023, arXiv:2304.14647.
    """

    identifier = "ae_sam"

    def __init__(self, rho=0.05, delta=0.9, lambda_1=-1.0, lambda_2=1.0,
                 epsilon=1e-12, **kwargs):
        super().__init__(rho=rho, epsilon=epsilon, **kwargs)
        self.policy = AdaptivePolicy(
            delta=delta, lambda_1=lambda_1, lambda_2=lambda_2,
            name="adaptive_policy",
        )

    def callbacks(self):
        return [AdaptiveSAMCallback()]

    def get_config(self):
        policy = self.policy.get_config()
        return {
            **super().get_config(),
            **{key: policy[key] for key in ("delta", "lambda_1", "lambda_2")},
        }
