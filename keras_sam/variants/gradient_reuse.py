"""`GradientReuse`: LookSAM's cached direction, shared with AE-LookSAM."""

from keras import ops

from keras_sam.basics import global_dot, global_norm

GRANULARITIES = ("global", "per_variable")


def check_granularity(granularity):
    """Raises `ValueError` unless `granularity` is one of `GRANULARITIES`."""
    if not isinstance(granularity, str) or granularity not in GRANULARITIES:
        raise ValueError(
            f"Argument `granularity` must be one of {GRANULARITIES}. "
            f"Received: granularity={granularity!r}"
        )
    return granularity


class GradientReuse:
    """Mixin for a `Variant` that perturbs on some steps only (LookSAM family).

    On a perturbed step it caches the part of the perturbed gradient
    orthogonal to the clean one, `g_v = g_s - (<g_s, g> / (||g||^2 + eps)) g`,
    and the optimizer receives `g_s`. On the other steps (one pass) the
    optimizer receives `g + alpha * (||g|| / (||g_v|| + eps)) * g_v`; before
    the first perturbed step `g_v = 0`, so that is plain `g`. Norms and dots
    are global, or per variable with `granularity="per_variable"` (as
    pytorch-optimizer's LookSAM): for each variable `i`,
    `g_v,i = g_s,i - (<g_s,i, g_i> / (||g_i||^2 + eps)) g_i` and the reuse
    step gives `g_i + alpha * (||g_i|| / (||g_v,i|| + eps)) * g_v,i`. The
    class using it sets `self.alpha` and `self.granularity` and decides the
    steps with `should_perturb`; the cache is saved with the model.

    Under `tf.distribute` the cache follows the perturbation: by default each
    replica caches the part of its own perturbed gradient orthogonal to its
    own gradient (the copies differ, as each replica's perturbation does);
    with `SAMModel(..., sync_perturbation=True)` both gradients are replica
    means and the copies are identical.
    """

    def build(self, input_shape):
        super().build(input_shape)
        self.orthogonal_gradients = [
            self.add_weight(
                shape=shape,
                initializer="zeros",
                trainable=False,
                name=f"orthogonal_gradient_{i}",
                # Each replica writes its own copy: "mean" or
                # "only_first_replica" would overwrite the per-replica
                # values with one; when synced they are equal anyway.
                aggregation="none",
            )
            for i, shape in enumerate(input_shape)
        ]

    def _groups(self, *lists):
        """The lists as one global group, or one group per variable."""
        if self.granularity == "global":
            return [lists]
        return [tuple([item] for item in items) for items in zip(*lists)]

    def combine(self, gradients, perturbed_gradients, variables):
        del variables
        for caches, g_s, g in self._groups(
            self.orthogonal_gradients, perturbed_gradients, gradients
        ):
            projection = global_dot(g_s, g) / (global_dot(g, g) + self.epsilon)
            for cache, s, c in zip(caches, g_s, g):
                cache.assign(s - projection * c)
        return perturbed_gradients

    def fallback_gradients(self, gradients, variables):
        del variables
        cached = [ops.convert_to_tensor(v) for v in self.orthogonal_gradients]
        result = []
        for g, v in self._groups(gradients, cached):
            cached_norm = global_norm(v)
            # Guards epsilon = 0 with an empty cache: 0 * inf would be NaN.
            scale = ops.where(
                cached_norm > 0,
                self.alpha * global_norm(g) / (cached_norm + self.epsilon),
                0.0,
            )
            result += [a + scale * b for a, b in zip(g, v)]
        return result
