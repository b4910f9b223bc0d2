"""`GradientReuse`: LookSAM's cached direction, shared with AE-LookSAM."""

from keras import ops

from keras_sam.variants.variant import global_dot, global_norm


class GradientReuse:
    """Mixin for a `Variant` that perturbs on some steps only (LookSAM family).

    On a perturbed step it caches the part of the perturbed gradient
    orthogonal to the clean one, `g_v = g_s - (<g_s, g> / (||g||^2 + eps)) g`,
    and the optimizer receives `g_s`. On the other steps (one pass) the
    optimizer receives `g + alpha * (||g|| / (||g_v|| + eps)) * g_v`; before
    the first perturbed step `g_v = 0`, so that is plain `g`. Norms and dots
    are global. The class using it sets `self.alpha` and decides the steps
    with `should_perturb`; the cache is saved with the model.

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

    def combine(self, gradients, perturbed_gradients, variables):
        del variables
        projection = global_dot(perturbed_gradients, gradients) / (
            global_dot(gradients, gradients) + self.epsilon
        )
        for cache, g_s, g in zip(
            self.orthogonal_gradients, perturbed_gradients, gradients
        ):
            cache.assign(g_s - projection * g)
        return perturbed_gradients

    def fallback_gradients(self, gradients, variables):
        del variables
        cached_norm = global_norm(self.orthogonal_gradients)
        # Guards epsilon = 0 with an empty cache: 0 * inf would be NaN.
        scale = ops.where(
            cached_norm > 0,
            self.alpha * global_norm(gradients) / (cached_norm + self.epsilon),
            0.0,
        )
        return [
            g + scale * ops.convert_to_tensor(v)
            for g, v in zip(gradients, self.orthogonal_gradients)
        ]
