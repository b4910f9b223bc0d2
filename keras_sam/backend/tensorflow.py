"""TensorFlow primitives of the step (`step.py`), and `SAMModel`'s train step.

The only module of keras_sam that imports TensorFlow: gradients from a
`tf.GradientTape`, `cond` and apply-or-skip in cross-replica context under
a `tf.distribute` strategy (so that a branch may all-reduce), the replica
count and mean.
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


def cond(pred, true_fn, false_fn):
    """`tf.cond`; under a strategy, taken in cross-replica context.

    A branch may then synchronize (e.g. all-reduce a perturbed gradient
    under `sync_perturbation`): TensorFlow refuses a `merge_call`, which a
    replica-context all-reduce is, inside a replica-context `tf.cond`.
    Every replica must compute the same `pred` (the policies decide on
    replica means); the first local replica's is taken. Each replica then
    runs its own `true_fn`/`false_fn` (they close over its tensors), so the
    functions travel as `merge_call` arguments, as values do.
    """
    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        return keras.ops.cond(pred, true_fn, false_fn)
    context = tf.distribute.get_replica_context()
    if context.num_replicas_in_sync == 1:
        return keras.ops.cond(pred, true_fn, false_fn)

    def cross_replica(strategy, pred, true_fns, false_fns):
        def run(fns):
            return lambda: strategy.extended.call_for_each_replica(
                lambda fn: fn(), args=(fns,)
            )

        pred = strategy.experimental_local_results(pred)[0]
        return tf.cond(pred, run(true_fns), run(false_fns))

    return context.merge_call(cross_replica, args=(pred, true_fn, false_fn))


def apply_or_skip(finite, apply, skip, args):
    """Runs `apply(*args)` if every replica's step is finite, else `skip(*args)`.

    Under a strategy, the branch is taken in cross-replica context (the
    optimizer synchronizes inside `apply`, which a replica-context `tf.cond`
    cannot hold), as Keras's `LossScaleOptimizer` does.
    """

    def branches(run):
        def apply_branch():
            run(apply)
            return tf.constant(True)

        def skip_branch():
            run(skip)
            return tf.constant(False)

        return apply_branch, skip_branch

    if not tf.distribute.has_strategy():
        tf.cond(finite, *branches(lambda fn: fn(*args)))
        return
    context = tf.distribute.get_replica_context()
    non_finite = tf.cast(tf.logical_not(finite), tf.float32)
    finite = context.all_reduce(tf.distribute.ReduceOp.SUM, non_finite) == 0.0

    def cross_replica(strategy, finite, args):
        def run(fn):
            strategy.extended.call_for_each_replica(fn, args=args)

        finite = strategy.experimental_local_results(finite)[0]
        tf.cond(finite, *branches(run))

    context.merge_call(cross_replica, args=(finite, args))


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
