"""GAM: Gradient norm Aware Minimization (the released accelerated form)."""

import keras
from keras import ops

from keras_sam.basics import check_range, global_dot, global_norm
from keras_sam.variants.variant import Variant

H_MINUS_FORMS = ("code", "paper")


@keras.saving.register_keras_serializable(package="keras_sam")
class GAM(Variant):
    """Gradient norm Aware Minimization: SAM plus first-order flatness.

    Use it when SAM alone does not flatten enough: besides the SAM gradient
    it penalizes the largest gradient norm in a neighbourhood (first-order
    flatness), approximated with finite differences. Each step costs four
    passes (twice SAM), so try SAM first.

    Update rule (accelerated form, as the authors' released code):
    `g1 = grad L(w + rho' * g0 / (||g0|| + epsilon))` with `g0 = g`;
    `h0 = g1 - g0`, `w2 = w + rho * h0 / (||h0|| + epsilon)`,
    `g2 = grad L(w2)`; `g3 = grad L(w2 + rho' * g2 / (||g2|| + epsilon))`;
    `h+ = alpha * g1 + (1 - alpha) * g3`; `h- = g0 + |1 - beta| * g2`
    (`h_minus="code"`) or `beta * g0 + (1 - beta) * g2` (`h_minus="paper"`,
    the paper's Algorithm 2); `cos = <h-, h+> / (||h+|| ||h-|| + epsilon)`,
    `h_perp = h- - cos * ||h-|| * h+ / (||h+|| + epsilon)`; the optimizer
    receives `h+ - gamma * h_perp`.

    Args:
        rho: float > 0, radius of the ascent on the gradient norm (code:
            `grad_norm_rho`, 0.2 on every CIFAR setting of the release), or
            a schedule of it.
        rho_prime: float > 0, radius of the SAM-style ascents (code:
            `grad_rho`; 0.03 for CIFAR-10 ResNets). Held in a variable, like
            `rho`, so that a callback can set it; or a schedule, as `rho`
            (`keras_sam.schedules`; the released code scales both radii
            with the learning rate: `FollowLearningRate`).
        alpha: float in [0, 1], weight of the SAM gradient `g1` in `h+`
            (code: `grad_beta_1`; 0.1 for CIFAR-10 ResNets).
        beta: float in [0, 1], weight of `g2` in `h-` through `1 - beta`
            (code: `grad_beta_0`; 0.1 for CIFAR-10 ResNets).
        gamma: float >= 0, weight of the orthogonal component removed from
            the update (code: `grad_gamma`; 0.05 for CIFAR-10 ResNets).
        h_minus: `"code"` (default, as the released code, to reproduce its
            numbers) or `"paper"` (Algorithm 2 of the paper).
        epsilon: float >= 0 added to norms (the code's `perturb_eps`).

    Example:

    ```python
    variant = keras_sam.variants.GAM(rho=0.2, rho_prime=0.03)
    model = keras_sam.SAMModel(inner, variant=variant)
    ```

    Reference:
        Zhang et al., "Gradient Norm Aware Minimization Seeks First-Order
        Flatness and Improves Generalization", CVPR 2023, arXiv:2303.03108;
        code: `xxgege/GAM`.
    """

    identifier = "gam"
    # `--tune`'s grid: rho' is the SAM-style radius (0.03 in the authors'
    # CIFAR-10 code); rho (0.2, the gradient-norm radius) is kept at the
    # code's value.
    tuning_grid = {"rho_prime": (0.03, 0.1, 0.2)}

    def __init__(self, rho=0.2, rho_prime=0.03, alpha=0.1, beta=0.1,
                 gamma=0.05, epsilon=1e-12, h_minus="code", **kwargs):
        super().__init__(rho=rho, epsilon=epsilon, **kwargs)
        self.alpha = float(check_range(
            "alpha", alpha, low=0.0, high=1.0, low_open=False, high_open=False
        ))
        self.beta = float(check_range(
            "beta", beta, low=0.0, high=1.0, low_open=False, high_open=False
        ))
        self.gamma = float(check_range("gamma", gamma, low=0.0, low_open=False))
        if h_minus not in H_MINUS_FORMS:
            raise ValueError(
                f"Argument `h_minus` must be one of {H_MINUS_FORMS}. "
                f"Received: h_minus={h_minus!r}"
            )
        self.h_minus = h_minus
        self.rho_prime = self.hyperparameter(
            "rho_prime", rho_prime,
            check=lambda value: check_range("rho_prime", value, low=0.0),
        )

    def compute_gradients(self, gradient_fn, gradients, variables, step):
        del variables, step
        g0 = gradients
        g1 = gradient_fn(self.normalized(g0, self.rho_prime))
        e2 = self.normalized([a - b for a, b in zip(g1, g0)], self.rho)
        g2 = gradient_fn(e2)
        e3 = [a + b for a, b in zip(e2, self.normalized(g2, self.rho_prime))]
        g3 = gradient_fn(e3)
        alpha, beta = self.alpha, self.beta
        h_plus = [alpha * a + (1.0 - alpha) * b for a, b in zip(g1, g3)]
        if self.h_minus == "code":
            h_minus = [a + abs(1.0 - beta) * b for a, b in zip(g0, g2)]
        else:
            h_minus = [beta * a + (1.0 - beta) * b for a, b in zip(g0, g2)]
        plus_norm, minus_norm = global_norm(h_plus), global_norm(h_minus)
        cosine = global_dot(h_minus, h_plus) / (
            plus_norm * minus_norm + self.epsilon
        )
        scale = cosine * minus_norm / (plus_norm + self.epsilon)
        update = [
            p - self.gamma * (m - scale * p) for p, m in zip(h_plus, h_minus)
        ]
        return update, ops.ones((), "float32")

    def get_config(self):
        return {
            **super().get_config(),
            # The constructor's value (a float or a serialized schedule).
            "rho_prime": self.hyperparameter_config("rho_prime"),
            "alpha": self.alpha,
            "beta": self.beta,
            "gamma": self.gamma,
            "h_minus": self.h_minus,
        }
