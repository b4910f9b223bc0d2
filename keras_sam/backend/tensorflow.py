"""TensorFlow train step and gradient oracle for `SAMModel`.

The only module of keras_sam that imports TensorFlow. The perturbed passes
never write to a variable: they run the inner model inside a
`keras.StatelessScope` that maps each trainable variable to `w + offsets` and
every variable the clean pass assigned (BatchNorm statistics, dropout seed
states, a stateful RNN's hidden state) to its value before the clean pass. Consequences, all guaranteed by
construction:

- the weights after a perturbed pass are exactly the weights before it
  (nothing is added and subtracted; NaN offsets cannot reach a weight);
- BatchNorm statistics are updated by the clean pass only;
- every perturbed pass draws the dropout masks of the clean pass of the same
  step (as the original JAX implementation), while the seed state still
  advances once per step, so masks never repeat across steps;
- add_loss terms and weight regularizers are evaluated at `w + offsets`.
"""

import keras
import tensorflow as tf

from keras_sam.backend import batch
from keras_sam.backend import common
from keras_sam.backend import recording


def _unscaled(gradients, weights, unscale):
    """Float32 dense gradients times `unscale`; zeros where there is none."""
    result = []
    for g, w in zip(gradients, weights):
        if g is None:
            result.append(tf.zeros_like(w))
            continue
        if isinstance(g, tf.IndexedSlices):
            g = tf.convert_to_tensor(g)
        result.append(tf.cast(g, tf.float32) * unscale)
    return result


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


def _apply_or_skip(finite, apply, restore, optimizer, args):
    """Runs `apply(*args)` if every replica's step is finite, else skips.

    A skipped step runs `restore(*args)` and backs off the loss scale. Under
    a strategy, the branch is taken in cross-replica context (the optimizer
    synchronizes inside `apply`, which a replica-context `tf.cond` cannot
    hold), as Keras's `LossScaleOptimizer` does.
    """

    def branches(run):
        def apply_branch():
            run(apply)
            return tf.constant(True)

        def skip_branch():
            run(restore)
            common.back_off_loss_scale(optimizer)
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


class _GradientOracle:
    """Gradients of one batch at `w + offsets`, as `Variant`s consume them.

    Holds what the clean pass left: the step's spec, the weights' values,
    the variables it assigned with their values before it (`state`) and
    the factor that turns a scaled
    per-replica gradient into an unscaled float32 one. With
    `sync_perturbation` it returns the replica mean (an all-reduce, which a
    branch of `cond` may hold). `rows` restricts a pass to some rows of the
    batch; `sample_losses` gives the loss of each sample (see
    `keras_sam/backend/batch.py`).
    """

    def __init__(self, spec, weights, state, unscale, clean_losses=None):
        self.spec = spec
        self.weights = weights
        self.state = state
        self.unscale = unscale
        self.clean_losses = clean_losses

    def _mapping(self, offsets):
        perturbed = [
            w + tf.cast(o, w.dtype) for w, o in zip(self.weights, offsets)
        ]
        return perturbed, common.perturbed_mapping(self.spec, perturbed, self.state)

    def __call__(self, offsets, rows=None):
        common.record_perturbation(self.spec.recorder, offsets)
        perturbed, mapping = self._mapping(offsets)
        with tf.GradientTape() as tape:
            tape.watch(perturbed)
            scaled_loss = common.forward(self.spec, mapping, rows=rows)[0]
        gradients = _unscaled(tape.gradient(scaled_loss, perturbed),
                              self.weights, self.unscale)
        if self.spec.sync_perturbation:
            # The global batch's gradient, as the clean one: what the variant
            # keeps from it (LookSAM's cache) is then the same on all replicas.
            gradients = mean_over_replicas(gradients)
        return gradients

    def sample_losses(self, offsets=None):
        """Each sample's loss at `w + offsets` (a forward pass), or the
        clean pass's with `offsets=None`."""
        if offsets is None:
            return self.clean_losses
        probe = batch.probe(self.spec)
        with tf.GradientTape() as tape:
            tape.watch(probe)
            scaled_loss = common.forward(
                self.spec, self._mapping(offsets)[1], sample_scale=probe
            )[0]
        return batch.sample_losses(
            tape.gradient(scaled_loss, probe), self.spec.batch_size, self.unscale
        )


def replicas():
    """Replicas in sync: Keras losses divide a replica's loss by it."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def train_step(model, data):
    """One SAM-family step of `SAMModel` (`model`) on `data`."""
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
        return common.sam_model_step(model, data, minimize, replicas())


def _first_pass(spec):
    """The step's first pass: `(raw gradients, loss, aux, state)`.

    At `w`, unless the variant asks for first-pass offsets: then at
    `w + offsets`. It runs in a recording scope whose assignments
    (BatchNorm statistics, seeds, RNN states, metrics) are then written
    (`recording.write_back`); `state` pairs each with its value before. With
    `needs_sample_losses`, the last raw gradient is the per-sample probe's.
    """
    variant = spec.variant
    probe = batch.probe(spec) if variant.needs_sample_losses else None
    extra = [] if probe is None else [probe]
    offsets = variant.first_pass_offsets(spec.variables)
    with tf.GradientTape() as tape:
        if probe is not None:
            tape.watch(probe)
        # The trained variables are read as tensors the tape watches
        # (regularizers read them through the scope's mapping).
        sources = [v.value for v in spec.variables]
        if offsets is not None:
            common.record_perturbation(spec.recorder, offsets)
            sources = [w + tf.cast(o, w.dtype) for w, o in zip(sources, offsets)]
        tape.watch(sources)
        mapping = list(zip(spec.variables, sources))
        scaled_loss, loss, aux, scope = common.forward(
            spec, mapping, sample_scale=probe
        )
    raw = tape.gradient(scaled_loss, list(sources) + extra)
    return raw, loss, aux, recording.write_back(spec, scope)


def minimize(spec):
    """One sharpness-aware step: `(loss, aux, perturbed, finite)`."""
    variant, optimizer = spec.variant, spec.optimizer
    count = replicas()

    # Values read before anything below writes (tf.function orders reads and
    # writes of one resource as written).
    variant_state = [tf.identity(v.value) for v in variant.state_variables()]
    step = tf.identity(tf.convert_to_tensor(optimizer.iterations))
    learning_rate = tf.identity(tf.convert_to_tensor(optimizer.learning_rate))
    variant.update_hyperparameters(step, learning_rate, optimizer)

    # Pass 1: at `w` (or the variant's first-pass offsets); what it assigns
    # (BatchNorm statistics, seeds) is written, as a stateful pass would.
    raw, loss, aux, written = _first_pass(spec)
    state_variables = [v for v, _ in written]
    state = [value for _, value in written]
    variables = spec.variables
    weights = [tf.identity(v.value) for v in variables]
    # Per-replica losses are divided by the replica count; undo it together
    # with the loss scale, so variants see the local mean gradient. A
    # variable without a gradient gets zeros (norms are unchanged and the
    # variant's per-variable state stays aligned); the optimizer skips it,
    # as Keras does.
    unscale = count / optimizer.scale_loss(tf.constant(1.0, tf.float32))
    clean_losses = None
    if variant.needs_sample_losses:
        clean_losses = batch.sample_losses(raw[-1], spec.batch_size, unscale)
        raw = raw[:-1]
    has_gradient = [g is not None for g in raw]
    gradients = _unscaled(raw, weights, unscale)
    if spec.sync_perturbation:
        gradients = mean_over_replicas(gradients)

    oracle = _GradientOracle(spec, weights, written, unscale, clean_losses)
    update, perturbed = variant.compute_gradients(oracle, gradients, weights, step)

    def rescale_and_apply(final_gradients):
        pairs = [
            (optimizer.scale_loss(g / count if count > 1 else g), v)
            for g, v, active in zip(final_gradients, variables, has_gradient)
            if active
        ]
        optimizer.apply(*zip(*pairs))

    # Per-replica values travel as arguments (never closures), so that under
    # tf.distribute each replica applies or restores its own.
    def apply(update, learning_rate, variant_state, state):
        variant.apply_gradients(rescale_and_apply, update, variables, learning_rate)

    def restore(update, learning_rate, variant_state, state):
        common.restore(spec, variant_state, state_variables, state)

    finite = common.step_is_finite(spec.recorder, gradients, update)
    _apply_or_skip(
        finite, apply, restore, optimizer,
        (update, learning_rate, variant_state, state),
    )
    return loss, aux, perturbed, finite
