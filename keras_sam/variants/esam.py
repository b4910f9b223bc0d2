"""ESAM: Efficient SAM (stochastic weight perturbation, data selection)."""

import keras
from keras import ops

from keras_sam.basics import check_range
from keras_sam.variants.variant import Variant


@keras.saving.register_keras_serializable(package="keras_sam")
class ESAM(Variant):
    """Efficient SAM: perturb some weights, descend on the sharpest samples.

    Two savings over SAM's second pass. Stochastic weight perturbation:
    each trainable variable takes part in the perturbation with probability
    `beta` (drawn anew each step), scaled up by `1 / beta`.
    Sharpness-sensitive data selection: a forward pass at `w + e` gives
    each sample's loss; the `gamma` share of the batch whose loss rose most
    is the batch of the final backward pass.

    Update rule: with `S` the selected variables,
    `e_i = rho * g_i / ((||g_S|| + epsilon) * beta)` for `i` in `S`, else 0;
    `l_0`, `l_e`: per-sample losses at `w` (from the first pass) and at
    `w + e` (a forward pass); the `k = max(1, round(gamma * B))` samples
    with the largest `l_e - l_0` form the final
    batch; the optimizer receives the gradient at `w + e` of the loss over
    those samples, computed by the model's own loss on them (sample
    weights honoured; the per-sample losses are weighted by them too).
    Per step: one pass, one forward pass and a pass on `k` samples.
    Dropout in the pass on `k` samples draws masks for `k` rows from the
    step's seed, so they are not the first pass's masks of those rows.

    The model's loss must weight each sample by its sample weight (every
    compiled Keras loss does): the per-sample losses are read from it.
    Under `tf.distribute`, each replica selects among its own samples.

    Args:
        rho: float > 0, radius (before the `1 / beta` scaling).
        beta: float in (0, 1], probability that a variable is perturbed
            (0.6 in the paper's experiments).
        gamma: float in (0, 1], share of the batch kept for the final pass
            (0.5 in the paper's experiments).
        epsilon: float >= 0 added to the norm.
        seed: int or `None`, seed of the per-step variable selection (its
            state is saved with the model, so a resumed run continues the
            sequence); `None` draws one (`keras.utils.set_random_seed`
            makes it reproducible).

    Example:

    ```python
    model = keras_sam.SAMModel(inner, variant=keras_sam.variants.ESAM(rho=0.05))
    ```

    Reference:
        Du et al., "Efficient Sharpness-aware Minimization for Improved
        Training of Neural Networks", ICLR 2022, arXiv:2110.03141 (code:
        github.com/dydjw9/Efficient_SAM).
    """

    identifier = "esam"
    needs_sample_losses = True

    def __init__(self, rho=0.05, beta=0.6, gamma=0.5, epsilon=1e-12,
                 seed=None, **kwargs):
        super().__init__(rho=rho, epsilon=epsilon, **kwargs)
        self.beta = float(
            check_range("beta", beta, low=0.0, high=1.0, high_open=False)
        )
        self.gamma = float(
            check_range("gamma", gamma, low=0.0, high=1.0, high_open=False)
        )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(
                f"Argument `seed` must be an integer or None. Received: seed={seed!r}"
            )
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="selection")

    def selection(self, count):
        """`count` booleans: which variables take part in this step's `e`."""
        draws = keras.random.uniform((count,), seed=self.seed_generator)
        return [draws[i] < self.beta for i in range(count)]

    def perturbation(self, gradients, variables):
        del variables
        chosen = self.selection(len(gradients))
        masked = [
            ops.where(c, g, ops.zeros_like(g)) for c, g in zip(chosen, gradients)
        ]
        radius = ops.cast(self.rho, "float32") / self.beta
        return self.normalized(masked, radius)

    def kept_rows(self, increase):
        """Indices of the `max(1, round(gamma * B))` largest increases,
        ascending."""
        size = ops.shape(increase)[0]
        if isinstance(size, int):
            k = max(1, round(self.gamma * size))
        else:
            k = ops.maximum(
                ops.cast(ops.round(self.gamma * ops.cast(size, "float32")), "int32"), 1
            )
        # In batch order: the pass on them is then independent of how
        # `top_k` orders its result.
        return ops.sort(ops.top_k(increase, k, sorted=False)[1])

    def compute_gradients(self, gradient_fn, gradients, variables, step):
        del step
        offsets = self.perturbation(gradients, variables)
        increase = gradient_fn.sample_losses(offsets) - gradient_fn.sample_losses()
        rows = self.kept_rows(increase)
        return gradient_fn(offsets, rows=rows), ops.ones((), "float32")

    # Keras does not save seed generator states: saved here, so that a
    # loaded model continues the selection sequence.
    def save_own_variables(self, store):
        super().save_own_variables(store)
        store["selection_seed"] = keras.ops.convert_to_numpy(
            self.seed_generator.state.value
        )

    def load_own_variables(self, store):
        if "selection_seed" in store:
            self.seed_generator.state.assign(store["selection_seed"])
        variables = self._trainable_variables + self._non_trainable_variables
        for i, variable in enumerate(variables):
            variable.assign(store[f"{i}"])

    def get_config(self):
        return {
            **super().get_config(),
            "beta": self.beta,
            "gamma": self.gamma,
            "seed": self.seed,
        }
