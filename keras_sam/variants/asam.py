"""ASAM: Adaptive Sharpness-Aware Minimization."""

import keras
from keras import ops

from keras_sam.variants.sam import check_bool
from keras_sam.basics import check_range, global_norm
from keras_sam.variants.variant import Variant


def is_shift(path):
    """True for a bias or a normalization's `beta` (by the variable's path)."""
    name = str(path).rsplit("/", 1)[-1]
    return name.endswith("bias") or name.endswith("beta")


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
        scale_biases: bool (True). False gives `T = 1` (no `|w|`, no `eta`)
            for biases and BatchNorm/LayerNorm `beta`, as the official ASAM
            code, which scales only parameters named "weight" (kernels and
            normalization `gamma`). The variables are told apart by their
            paths (last part ending in "bias" or "beta"), which `SAMModel`
            gives the variant before building it.
        variable_paths: the paths of the trainable variables, in order, for
            a variant built by hand for `Variant.minimize`
            (`[v.path for v in model.trainable_variables]`); `SAMModel`
            sets them itself. Used only with `scale_biases=False`.

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
    # `--tune`'s grid: ASAM's rho lives on the weight-normalized scale (its
    # paper uses 0.5-2).
    tuning_grid = {"rho": (0.5, 1.0, 2.0)}

    def __init__(self, rho=0.5, eta=0.01, epsilon=1e-12, scale_biases=True,
                 variable_paths=None, **kwargs):
        super().__init__(rho=rho, epsilon=epsilon, **kwargs)
        self.eta = float(check_range("eta", eta, low=0.0, low_open=False))
        self.scale_biases = check_bool("scale_biases", scale_biases)
        self.variable_paths = (
            None if variable_paths is None else [str(p) for p in variable_paths]
        )

    def build(self, input_shape):
        super().build(input_shape)
        # Hooks see values, not variables (JAX): classify once, by path.
        self.scaled = [True] * len(input_shape)
        if self.scale_biases:
            return
        paths = self.variable_paths
        if paths is None or len(paths) != len(input_shape):
            raise ValueError(
                "ASAM(scale_biases=False) needs the paths of the variables it "
                "is built for (SAMModel gives them; for a variant built by "
                "hand, pass `variable_paths=[v.path for v in "
                "model.trainable_variables]`). Received: "
                f"variable_paths={paths!r} for {len(input_shape)} variables."
            )
        self.scaled = [not is_shift(path) for path in paths]

    def perturbation(self, gradients, variables):
        scales = [
            ops.abs(ops.cast(w, "float32")) + self.eta if scaled else 1.0
            for w, scaled in zip(variables, self.scaled)
        ]
        scaled = [t * g for t, g in zip(scales, gradients)]
        factor = self.rho / (global_norm(scaled) + self.epsilon)
        return [t * s * factor for t, s in zip(scales, scaled)]

    def get_config(self):
        config = {
            **super().get_config(), "eta": self.eta,
            "scale_biases": self.scale_biases,
        }
        if not self.scale_biases:
            config["variable_paths"] = self.variable_paths
        return config
