"""SAM: Sharpness-Aware Minimization."""

import keras

from keras_sam.variants.variant import Variant


@keras.saving.register_keras_serializable(package="keras_sam")
class SAM(Variant):
    """Sharpness-Aware Minimization (the original two-pass algorithm).

    Use it as the default: it seeks weights whose whole neighbourhood has low
    loss, which usually generalizes better than plain training (ERM), most
    visibly with label noise. Each step costs two passes.

    Update rule: `e = rho * g / (||g|| + epsilon)`, the optimizer receives
    `grad L(w + e)`.

    Args:
        rho: float > 0, radius of the L2 ball (0.05 in the paper for
            CIFAR; 0.01-0.1 typical).
        epsilon: float >= 0 added to the norm.

    Example:

    ```python
    model = keras_sam.SAMModel(inner, variant=keras_sam.variants.SAM(rho=0.05))
    ```

    Reference:
        Foret et al., "Sharpness-Aware Minimization for Efficiently
        Improving Generalization", ICLR 2021, arXiv:2010.01412.
    """

    identifier = "sam"

    def __init__(self, rho=0.05, epsilon=1e-12, **kwargs):
        super().__init__(rho=rho, epsilon=epsilon, **kwargs)

    def perturbation(self, gradients, variables):
        del variables
        return self.normalized(gradients, self.rho)
