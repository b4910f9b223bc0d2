"""GA-SAM: Gradient-Strength based Adaptive Sharpness-Aware Minimization."""

import keras
from keras import ops

from keras_sam.executor import mean_over_replicas
from keras_sam.basics import check_range, global_norm
from keras_sam.variants.variant import Variant


@keras.saving.register_keras_serializable(package="keras_sam")
class GASAM(Variant):
    """GA-SAM: per-parameter corruption strength set by gradient strength.

    Use it for models with drastic gradient changes, such as RNNs, where SAM's
    uniform ball corrupts the strongest coordinates too much and can lose to
    plain training. Each step costs `1 + num_ascent_steps` passes.

    This is this project's reading of the paper's description, not a port of
    its code: no code was released and the paper body was not available to
    us. It is built from the stated method (corruption strength per
    parameter set by its gradient strength, so that the strongest
    coordinates are not over-corrupted; multi-step ascent). Two other
    readings were rejected: a weighted ball `||s * a|| <= rho` scales each
    coordinate of the ascent by `1 / s^2`, without bound where gradients
    vanish, and `||a / s|| <= rho` scales it by `s^2`, the opposite of the
    stated aim. Do not cite results of this class as the paper's. The
    committed comparison with SAM and plain training on a GRU is the "gru"
    task of docs/benchmarks/claims.md (`keras-sam benchmark --suite claims`).

    Update rule: `v <- beta * v + (1 - beta) * g^2` (every step, from the
    clean gradient), `s = sqrt(v / (1 - beta^t))`, `r = s / (rms(s) +
    epsilon) + min_strength` (rms over all trainable elements); `a_0 = 0`;
    for `k = 1..K`: `d = grad L(w + a_{k-1})` (`d = g` for `k = 1`),
    `u = d / r`, `a_k = a_{k-1} + (rho / K) * u / (||u|| + epsilon)`,
    projected onto `||a_k|| <= rho`; the optimizer receives
    `grad L(w + a_K)`. With uniform strength it is SAM. Where `r = 0` (only
    possible with `min_strength=0`) the element is not perturbed.

    Args:
        rho: float > 0, radius of the L2 ball (0.05, as SAM's default).
        beta: float in [0, 1), decay of the moving average of `g^2` (0.99,
            the usual second-moment decay).
        min_strength: float >= 0, added to the relative strength so that
            coordinates with vanishing gradients are not corrupted without
            bound.
        num_ascent_steps: int >= 1, ascent steps `K` (multi-step ascent as
            the paper describes).
        epsilon: float >= 0 added to norms.

    Example:

    ```python
    variant = keras_sam.variants.GASAM(rho=0.05, num_ascent_steps=2)
    model = keras_sam.SAMModel(rnn, variant=variant)
    ```

    Reference:
        Zhang et al., "GA-SAM: Gradient-Strength based Adaptive
        Sharpness-Aware Minimization for Improved Generalization",
        EMNLP 2022, arXiv:2210.06895 (no code released).
    """

    identifier = "ga_sam"

    def __init__(self, rho=0.05, beta=0.99, min_strength=1e-3,
                 num_ascent_steps=1, epsilon=1e-12, **kwargs):
        super().__init__(rho=rho, epsilon=epsilon, **kwargs)
        self.beta = float(
            check_range("beta", beta, low=0.0, high=1.0, low_open=False)
        )
        self.min_strength = float(
            check_range("min_strength", min_strength, low=0.0, low_open=False)
        )
        if isinstance(num_ascent_steps, bool) or not isinstance(
            num_ascent_steps, int
        ) or num_ascent_steps < 1:
            raise ValueError(
                "Argument `num_ascent_steps` must be an integer >= 1. "
                f"Received: num_ascent_steps={num_ascent_steps!r}"
            )
        self.num_ascent_steps = num_ascent_steps

    def build(self, input_shape):
        self.second_moments = [
            self.add_weight(shape=shape, initializer="zeros", trainable=False,
                            name=f"second_moment_{i}", aggregation="mean")
            for i, shape in enumerate(input_shape)
        ]
        self.iterations = self.add_weight(
            shape=(), initializer="zeros", dtype="int64", trainable=False,
            name="iterations", aggregation="only_first_replica",
        )

    def relative_strength(self, gradients):
        """Updates the state from `gradients`; returns `r` per variable."""
        beta = self.beta
        # The statistics are state: kept from the replica-mean gradient.
        gradients = mean_over_replicas(gradients)
        moments = [
            beta * v + (1.0 - beta) * ops.square(g)
            for v, g in zip(self.second_moments, gradients)
        ]
        for variable, value in zip(self.second_moments, moments):
            variable.assign(value)
        step = ops.cast(self.iterations + 1, "float32")
        self.iterations.assign_add(1)
        correction = 1.0 - ops.power(ops.cast(beta, "float32"), step)
        strengths = [ops.sqrt(v / correction) for v in moments]
        size = sum(ops.cast(ops.size(s), "float32") for s in strengths)
        rms = global_norm(strengths) / ops.sqrt(size)
        return [s / (rms + self.epsilon) + self.min_strength for s in strengths]

    def compute_gradients(self, gradient_fn, gradients, variables, step):
        del variables, step
        strength = self.relative_strength(gradients)
        radius = ops.cast(self.rho, "float32")
        offsets = [ops.zeros_like(g) for g in gradients]
        direction = gradients
        for k in range(self.num_ascent_steps):
            if k > 0:
                direction = gradient_fn(offsets)
            scaled = [ops.divide_no_nan(d, r) for d, r in zip(direction, strength)]
            offsets = [
                a + u for a, u in zip(
                    offsets, self.normalized(scaled, radius / self.num_ascent_steps)
                )
            ]
            norm = global_norm(offsets)
            factor = ops.where(norm > radius, radius / norm, 1.0)
            offsets = [a * factor for a in offsets]
        return gradient_fn(offsets), ops.ones((), "float32")

    def get_config(self):
        return {
            **super().get_config(),
            "beta": self.beta,
            "min_strength": self.min_strength,
            "num_ascent_steps": self.num_ascent_steps,
        }
