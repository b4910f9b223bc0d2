"""TensorFlow primitives of the step (`step.py`), and `SAMModel`'s train step.

The only module of keras_sam that imports TensorFlow: gradients from a
`tf.GradientTape`, `cond` in cross-replica context under a `tf.distribute`
strategy (so that a branch may all-reduce or update the weights), the
replicas' agreement on a finite step, the replica count and mean.
"""

import keras
import tensorflow as tf

from keras_sam.backend import common


def mean_over_replicas(values):
    """All-reduced mean in replica context; `values` unchanged otherwise."""
    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        return values
    context = tf.distribute.get_replica_context()
    if context.num_replicas_in_sync == 1:
        return values
    return context.all_reduce(tf.distribute.ReduceOp.MEAN, values)


def _cond(pred, true_fn, false_fn, across_from):
    """`tf.cond`, taken in cross-replica context under a strategy of at
    least `across_from` replicas, so that a branch may synchronize:
    TensorFlow refuses a `merge_call` (an all-reduce, the optimizer's
    update) inside a replica-context `tf.cond`.

    Every replica must compute the same `pred`; the first local replica's
    is taken. Each replica then runs its own `true_fn`/`false_fn` (they
    close over its tensors), so the functions travel as `merge_call`
    arguments, as values do.
    """
    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        return keras.ops.cond(pred, true_fn, false_fn)
    context = tf.distribute.get_replica_context()
    if context.num_replicas_in_sync < across_from:
        return keras.ops.cond(pred, true_fn, false_fn)

    def cross_replica(strategy, pred, true_fns, false_fns):
        def run(fns):
            return lambda: strategy.extended.call_for_each_replica(
                lambda fn: fn(), args=(fns,)
            )

        pred = strategy.experimental_local_results(pred)[0]
        return tf.cond(pred, run(true_fns), run(false_fns))

    return context.merge_call(cross_replica, args=(pred, true_fn, false_fn))


def cond(pred, true_fn, false_fn):
    """`_cond` across replicas under a strategy of several replicas, whose
    branches may all-reduce (e.g. a perturbed gradient under
    `sync_perturbation`; the policies decide on replica means). With one
    replica a variant's branch stays in replica context."""
    return _cond(pred, true_fn, false_fn, across_from=2)


def apply_or_skip(finite, apply, skip):
    """`_cond` across replicas under any strategy: the optimizer's update
    synchronizes even with one replica, as Keras's `LossScaleOptimizer`'s
    conditional update does. `finite` is the same on every replica (`agree`).
    """
    return _cond(finite, apply, skip, across_from=1)


def agree(finite):
    """Every replica takes the same apply-or-skip branch: skip if any
    replica's step is not finite."""
    if not tf.distribute.has_strategy():
        return finite
    non_finite = tf.cast(tf.logical_not(finite), tf.float32)
    context = tf.distribute.get_replica_context()
    return context.all_reduce(tf.distribute.ReduceOp.SUM, non_finite) == 0.0


def replicas():
    """Replicas in sync: Keras losses divide a replica's loss by it."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def train_step(model, step_fn, data):
    """`step_fn(model, data)`, `SAMModel`'s step, traced for `cond`."""
    if model.jit_compile and tf.distribute.has_strategy():
        raise ValueError(
            "jit_compile=True does not work under a tf.distribute strategy in "
            "Keras 3 (XLA cannot reach the mirrored variables). Compile with "
            "jit_compile='auto' (the default turns XLA off under a strategy) "
            "or jit_compile=False."
        )
    compiled_for_cpu = (
        model.jit_compile is True and not tf.config.list_logical_devices("GPU")
    )
    with common.tracing_step(model, compiled_for_cpu):
        return step_fn(model, data)


def value_and_grad(fn, sources):
    """`((value, aux), gradients)` of `fn(sources)` (see `step.py`)."""
    with tf.GradientTape() as tape:
        tape.watch(sources)
        value, aux = fn(sources)
    gradients = tape.gradient(value, sources)
    # Sparse gradients (embeddings) are densified for the variants' math.
    return (value, aux), [
        None if g is None else tf.convert_to_tensor(g) for g in gradients
    ]


def read(variable):
    """The variable's value, read before anything that follows writes it
    (tf.function orders reads and writes of one resource as written)."""
    return tf.identity(tf.convert_to_tensor(variable))


def apply(optimizer, gradients, variables, count):
    """The base optimizer's update; it all-reduces under a strategy, so the
    local mean gradient is divided by the replica count first."""
    optimizer.apply(
        [optimizer.scale_loss(g / count if count > 1 else g) for g in gradients],
        variables,
    )
