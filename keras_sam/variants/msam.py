"""MSAM: Momentum-SAM, a sharpness-aware step at the cost of one pass."""

import keras
from keras import ops

from keras_sam.basics import check_range, global_norm
from keras_sam.variants.variant import Variant


@keras.saving.register_keras_serializable(package="keras_sam")
class MSAM(Variant):
    """Momentum-SAM: perturb along the negative momentum, one pass per step.

    SAM spends a second pass on finding the ascent direction. MSAM takes it
    from the momentum instead: the optimizer's momentum points downhill, so
    `-momentum` points uphill, and the step's only pass runs there. Use it
    when SAM's doubled step time is too much; it costs what ERM costs.

    Update rule (state `v` per variable, zeros at the start):
    `e = -rho * v / (||v|| + epsilon)` (zero while `v = 0`); the only pass
    runs at `w + e`: `g~ = grad L(w + e)` (its loss, metrics and BatchNorm
    update are the step's); the optimizer receives `g~` and updates `w`;
    then `v <- momentum * v + g~`. With `SGD(momentum=mu)` and
    `momentum=mu`, `v` is the optimizer's own momentum direction. MSAM
    logs `sam_fraction` 1.0 for every step whose pass ran at a perturbed
    point (all but the first), although a step costs one pass.

    Under `tf.distribute`, `v` shapes only the replica's own perturbation,
    so it is per replica by default and identical on all replicas with
    `SAMModel(..., sync_perturbation=True)`.

    Args:
        rho: float > 0, radius of the perturbation. The paper's default is
            0.3 (larger than SAM's: the momentum direction is a weaker
            ascent direction than the gradient).
        momentum: float in [0, 1), decay of `v`; match the optimizer's
            momentum (0.9 in the paper).
        epsilon: float >= 0 added to the norm.

    Example:

    ```python
    model = keras_sam.SAMModel(inner, variant=keras_sam.variants.MSAM(rho=0.3))
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=...)
    ```

    Reference:
        Becker, Altrock and Risse, "Momentum-SAM: Sharpness Aware
        Minimization without Computational Overhead", 2024,
        arXiv:2401.12033 (code: github.com/MarlonBecker/MSAM).
    """

    identifier = "msam"
    # `--tune`'s grid: MSAM's radius is along the normalized momentum; its
    # default is 0.3.
    tuning_grid = {"rho": (0.1, 0.3, 1.0)}

    def __init__(self, rho=0.3, momentum=0.9, epsilon=1e-12, **kwargs):
        super().__init__(rho=rho, epsilon=epsilon, **kwargs)
        self.momentum = float(
            check_range("momentum", momentum, low=0.0, high=1.0, low_open=False)
        )

    def build(self, input_shape):
        # Per replica: it shapes only the replica's own perturbation.
        self.velocity = [
            self.add_weight(shape=shape, initializer="zeros", trainable=False,
                            name=f"velocity_{i}", aggregation="none")
            for i, shape in enumerate(input_shape)
        ]

    def first_pass_offsets(self, variables):
        del variables
        if not self.built:
            raise ValueError(
                "MSAM runs its only pass at a point computed from its state "
                "before the pass, so the model must be built before "
                "training: call `model.build(input_shape)` (or call it on a "
                "batch) before `fit`."
            )
        return self.normalized(
            [-ops.convert_to_tensor(v) for v in self.velocity], self.rho
        )

    def compute_gradients(self, gradient_fn, gradients, variables, step):
        del gradient_fn, variables, step
        moving = ops.cast(global_norm(self.velocity) > 0.0, "float32")
        for v, g in zip(self.velocity, gradients):
            v.assign(self.momentum * v + g)
        return gradients, moving

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}
