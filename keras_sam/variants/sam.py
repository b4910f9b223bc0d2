"""SAM: Sharpness-Aware Minimization."""

import keras
from keras import ops

from keras_sam.variants.variant import Variant


def check_bool(name, value):
    """Raises `ValueError` unless `value` is True or False."""
    if not isinstance(value, bool):
        raise ValueError(
            f"Argument `{name}` must be True or False. Received: {name}={value!r}"
        )
    return value


def centralized(gradients):
    """Gradient centralization: each gradient of rank > 1 minus its mean over
    all axes but the last (Keras kernels keep their output units last)."""
    return [
        g - ops.mean(g, axis=tuple(range(len(g.shape) - 1)), keepdims=True)
        if len(g.shape) > 1 else g
        for g in gradients
    ]


@keras.saving.register_keras_serializable(package="keras_sam")
class SAM(Variant):
    """Sharpness-Aware Minimization (the original two-pass algorithm).

    Use it as the default: it seeks weights whose whole neighbourhood has low
    loss, which usually generalizes better than plain training (ERM), most
    visibly with label noise. Each step costs two passes.

    Update rule: `e = rho * g / (||g|| + epsilon)`, the optimizer receives
    `grad L(w + e)`.

    With `centralize=True` (GCSAM, Hassan et al., arXiv:2501.11584) the
    direction is centralized first: from each gradient of rank > 1 its mean
    over all axes but the last (the output units of a Keras kernel) is
    subtracted, rank-1 gradients are kept; `e = rho * gc / (||gc|| +
    epsilon)`. The optimizer still receives the plain `grad L(w + e)`.

    Args:
        rho: float > 0, radius of the L2 ball (0.05 in the paper for
            CIFAR; 0.01-0.1 typical).
        epsilon: float >= 0 added to the norm.
        centralize: bool, centralize the perturbation direction (GCSAM).
            Default False (SAM). Saved in the config only when True.

    Example:

    ```python
    model = keras_sam.SAMModel(inner, variant=keras_sam.variants.SAM(rho=0.05))
    ```

    Reference:
        Foret et al., "Sharpness-Aware Minimization for Efficiently
        Improving Generalization", ICLR 2021, arXiv:2010.01412.
    """

    identifier = "sam"

    def __init__(self, rho=0.05, epsilon=1e-12, centralize=False, **kwargs):
        super().__init__(rho=rho, epsilon=epsilon, **kwargs)
        self.centralize = check_bool("centralize", centralize)

    def perturbation(self, gradients, variables):
        del variables
        if self.centralize:
            gradients = centralized(gradients)
        return self.normalized(gradients, self.rho)

    def get_config(self):
        # Only when set: the subclasses (LookSAM, GSAM, AE-SAM) keep their
        # configs, and SAM's default config is the one saved models hold.
        config = super().get_config()
        if self.centralize:
            config["centralize"] = True
        return config
