"""WSAM: Weighted Sharpness-Aware Minimization."""

import keras
from keras import ops

from keras_sam.executor import mean_over_replicas
from keras_sam.basics import check_range
from keras_sam.variants.variant import Variant


@keras.saving.register_keras_serializable(package="keras_sam")
class WSAM(Variant):
    """Weighted SAM: the sharpness term gets its own weight next to the loss.

    Use it when SAM's implicit 1:1 balance between loss and sharpness is not
    the right one: `gamma` weighs the sharpness `max L(w + e) - L(w)` against
    the loss (`gamma=0.5` is SAM, `gamma=0` the base optimizer). In the
    default decoupled mode the sharpness term is applied as a plain SGD step
    next to the base optimizer, so the optimizer's momentum, preconditioning
    and weight decay act on the clean gradient only; with Adam-like
    optimizers `gamma` (or `rho`) must be retuned, since the decoupled term
    is not rescaled by the preconditioner. Each step costs two passes.

    Update rule: `alpha = gamma / (1 - gamma)`, `e = rho * g / (||g|| +
    epsilon)`, `g~ = grad L(w + e)`; coupled: the optimizer receives
    `g + alpha * (g~ - g)`; decoupled: the optimizer receives `g`, then
    `w <- w - lr_t * alpha * (g~ - g)` with `lr_t` the optimizer's learning
    rate for this step (schedules included).

    The decoupled term bypasses the optimizer, hence also its gradient
    clipping, its gradient accumulation (with `gradient_accumulation_steps=n`
    the term is applied at every micro-step: `n` times its coupled weight
    per update) and its EMA (which averages the weights before the term);
    use `decoupled=False` where those must see the whole update.

    Args:
        rho: float > 0, radius of the L2 ball, as SAM's (0.05 in the
            reference code; its CIFAR-10 example uses 0.2).
        gamma: float in [0, 1), weight of the sharpness term (0.9 in the
            reference code; 0.8-0.95 reported to work best).
        decoupled: bool, apply the sharpness term outside the base optimizer
            (the paper's and the reference code's default) instead of adding
            it to the gradient.
        epsilon: float >= 0 added to the norm.

    Example:

    ```python
    variant = keras_sam.variants.WSAM(rho=0.05, gamma=0.9)
    model = keras_sam.SAMModel(inner, variant=variant)
    ```

    Reference:
        Yue et al., "Sharpness-Aware Minimization Revisited: Weighted
        Sharpness as a Regularization Term", KDD 2023, arXiv:2305.15817;
        code: `intelligent-machine-learning/dlrover`,
        `atorch/optimizers/wsam.py`.
    """

    identifier = "wsam"

    def __init__(self, rho=0.05, gamma=0.9, decoupled=True, epsilon=1e-12,
                 **kwargs):
        super().__init__(rho=rho, epsilon=epsilon, **kwargs)
        self.gamma = float(
            check_range("gamma", gamma, low=0.0, high=1.0, low_open=False)
        )
        if not isinstance(decoupled, bool):
            raise ValueError(
                "Argument `decoupled` must be True or False. "
                f"Received: decoupled={decoupled!r}"
            )
        self.decoupled = decoupled
        self.alpha = self.gamma / (1.0 - self.gamma)

    def perturbation(self, gradients, variables):
        del variables
        return self.normalized(gradients, self.rho)

    def combine(self, gradients, perturbed_gradients, variables):
        del variables
        sharpness = [
            self.alpha * (p - g) for g, p in zip(gradients, perturbed_gradients)
        ]
        if self.decoupled:
            # The optimizer's gradients and the term applied after its step;
            # applied outside the optimizer, so averaged over replicas here.
            return gradients, mean_over_replicas(sharpness)
        return [g + s for g, s in zip(gradients, sharpness)]

    def apply_gradients(self, apply_fn, update, variables, learning_rate):
        if not self.decoupled:
            apply_fn(update)
            return
        gradients, sharpness = update
        apply_fn(gradients)
        learning_rate = ops.cast(learning_rate, "float32")
        for variable, term in zip(variables, sharpness):
            variable.assign_sub(ops.cast(learning_rate * term, variable.dtype))

    def get_config(self):
        return {
            **super().get_config(),
            "gamma": self.gamma,
            "decoupled": self.decoupled,
        }
