"""NumPy references and in-graph instruments for the variants that skip passes.

`AdaptiveSwitch` and `ReuseCache` restate AE-SAM's switch (Jiang et al.,
ICLR 2023) and LookSAM's cache (Liu et al., CVPR 2022) in float64 NumPy;
`instrumented` records, inside the compiled step, what a variant actually
executed.
"""

import numpy as np
from keras import ops

from tests import reference


def dot(a, b):
    return sum(np.sum(np.multiply(x, y, dtype=np.float64))
               for x, y in zip(a, b))


class AdaptiveSwitch:
    """AE-SAM's decision and statistics; `switch(gradients, step) -> bool`."""

    def __init__(self, delta, lambda_1, lambda_2, total_steps):
        self.delta, self.total_steps = delta, total_steps
        self.lambdas = (lambda_1, lambda_2)
        self.mean = self.variance = 0.0
        self.means, self.variances, self.decisions = [], [], []

    def coefficient(self, step):
        lambda_1, lambda_2 = self.lambdas
        if self.total_steps <= 0 or step >= self.total_steps:
            return lambda_1
        progress = step / self.total_steps
        return progress * lambda_1 + (1 - progress) * lambda_2

    def __call__(self, gradients, step):
        return self.decide(dot(gradients, gradients), step)

    def decide(self, q, step):
        """The decision for squared norm `q` (a replica mean under a strategy)."""
        delta = self.delta
        self.mean = delta * self.mean + (1 - delta) * q
        deviation = (q - self.mean) ** 2
        self.variance = delta * self.variance + (1 - delta) * deviation
        threshold = self.mean + self.coefficient(step) * np.sqrt(self.variance)
        self.means.append(self.mean)
        self.variances.append(self.variance)
        self.decisions.append(bool(q >= threshold))
        return self.decisions[-1]


class ReuseCache:
    """LookSAM's `g_v`: `refresh` on SAM steps, `reuse` on the others."""

    def __init__(self, alpha, epsilon=1e-12):
        self.alpha, self.epsilon = alpha, epsilon
        self.cached = None

    def refresh(self, clean, perturbed):
        projection = dot(perturbed, clean) / (dot(clean, clean) + self.epsilon)
        self.cached = [p - projection * g for p, g in zip(perturbed, clean)]
        return perturbed

    def reuse(self, clean):
        if self.cached is None:
            return clean
        norm = reference.norm(self.cached)
        scale = self.alpha * reference.norm(clean) / (norm + self.epsilon)
        return [g + scale * v for g, v in zip(clean, self.cached)]


def instrumented(variant_class, steps):
    """`variant_class` recording in-graph, per step `t < steps`: gradient-oracle
    calls (`calls`: executions, not traces), the decisions `should_perturb`
    returned (`decisions`, 1.0 = perturb) and, with an adaptive policy, the
    statistics after the update (`means`, `variances`).

    The records are not aggregated across replicas: under a `tf.distribute`
    strategy each replica writes its own copy (`variable.value.values`)."""

    class Instrumented(variant_class):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.calls, self.decisions, self.means, self.variances = [
                self.add_weight(shape=(steps,), initializer="zeros",
                                trainable=False, name=name, aggregation="none")
                for name in ("calls", "decisions", "means", "variances")
            ]

        def compute_gradients(self, gradient_fn, gradients, variables, step):
            at = ops.one_hot(step, steps)

            def counted(offsets):
                self.calls.assign_add(at)
                return gradient_fn(offsets)

            return super().compute_gradients(
                counted, gradients, variables, step
            )

        def should_perturb(self, gradients, step):
            decision = super().should_perturb(gradients, step)
            at = ops.one_hot(step, steps)
            self.decisions.assign_add(at * ops.cast(decision, "float32"))
            if hasattr(self.policy, "moving_mean"):
                self.means.assign_add(at * self.policy.moving_mean)
                self.variances.assign_add(at * self.policy.moving_variance)
            return decision

    Instrumented.__name__ = f"Instrumented{variant_class.__name__}"
    return Instrumented
