"""ASAM: Adaptive Sharpness-Aware Minimization."""

import keras
from keras import ops

from keras_sam.variants.variant import Variant, check_range, global_norm


@keras.saving.register_keras_serializable(package="keras_sam")
class ASAM(Variant):
    """Adaptive SAM: the neighbourhood is scaled by the weights' magnitude.

    Use it when the network has scale symmetries (ReLU nets with BatchNorm)
    that make SAM's fixed-radius ball a poor sharpness measure; `rho` is
    about ten times SAM's. Each step costs two passes.

    Update rule: `T = |w| + eta` (every variable, element-wise),
    `e = rho * T^2 * g / (||T * g|| + epsilon)`, the optimizer receives
    `grad L(w + e)`.

    Args:
        rho: float > 0, radius of the scaled ball (0.5 in the paper for
            CIFAR-10, 1.0 for CIFAR-100).
        eta: float >= 0, added to `|w|` so that zero weights still move.
        epsilon: float >= 0 added to the norm.

    Example:

    ```python
    model = keras_sam.SAMModel(inner, variant=keras_sam.variants.ASAM(rho=0.5))
    ```

    Reference:
        Kwon et al., "ASAM: Adaptive Sharpness-Aware Minimization for
        Scale-Invariant Learning of Deep Neural Networks", ICML 2021,
        arXiv:2102.11600.
    """

    identifier = "asam"

    def __init__(self, rho=0.5, eta=0.01, epsilon=1e-12, **kwargs):
        super().__init__(rho=rho, epsilon=epsilon, **kwargs)
        self.eta = float(check_range("eta", eta, low=0.0, low_open=False))

    def perturbation(self, gradients, variables):
        scales = [ops.abs(ops.cast(w, "float32")) + self.eta for w in variables]
        scaled = [t * g for t, g in zip(scales, gradients)]
        factor = self.rho / (global_norm(scaled) + self.epsilon)
        return [t * s * factor for t, s in zip(scales, scaled)]

    def get_config(self):
        return {**super().get_config(), "eta": self.eta}
