"""JAX train step and gradient oracle for `SAMModel`.

Keras's JAX trainer calls `train_step(state, data)` with the values of every
variable of the model (trainable, non-trainable, optimizer, metrics) and
expects their new values back: the step is a pure function. This one runs
SAMModel's code inside a `keras.StatelessScope` over all of those values, so
variants, policies and metrics read and assign `keras.Variable`s exactly as
on TensorFlow, and the scope's final values are the new state. Differences
from the TensorFlow backend, none visible to a variant:

- gradients come from `jax.value_and_grad` of a stateless pass; pass 1
  returns what it assigned (BatchNorm statistics, seeds, metrics) as aux;
- a step that assigns a variable outside the state Keras's trainer carries
  (a second optimizer the model does not keep, a stateful RNN's state) is
  refused (`common.check_carried`) rather than losing the new value;
- a branch that assigns variables goes through `cond` (below), which carries
  the step's variables in and out of `jax.lax.cond`;
- the base optimizer runs through its `stateless_apply` (which keeps loss
  scaling and gradient accumulation working under `jit`).

Under `keras.distribution.DataParallel` the step sees the global batch, so its
gradients are global: SAMModel asks for `sync_perturbation=True` there.
"""

import jax
import keras
from keras import ops

from keras_sam.backend import batch
from keras_sam.backend import common
from keras_sam.backend import recording


def _values(variables):
    return [v.value for v in variables]


def cond(pred, true_fn, false_fn):
    """`ops.cond` whose branches may assign the step's variables."""
    try:
        # Eager (jit_compile=False): run one branch, as TensorFlow would.
        taken = true_fn if bool(pred) else false_fn
    except jax.errors.ConcretizationTypeError:
        taken = None
    if taken is not None:
        return taken()
    step = common.current_step()
    if step is None:
        return ops.cond(pred, true_fn, false_fn)
    variables = step[0]

    def branch(fn):
        return lambda values: recording.run_stateless(fn, variables, values)

    outputs, values = jax.lax.cond(
        pred, branch(true_fn), branch(false_fn), _values(variables)
    )
    for variable, value in zip(variables, values):
        variable.assign(value)
    return outputs


def _gradients(spec, weights, state, unscale, rows=None, probe=None):
    """Unscaled float32 gradients at `weights`, and the pass's aux outputs.

    The aux outputs are `(loss, aux, scope)`; `scope.updates()` holds what
    the pass assigned (BatchNorm statistics, seeds, metrics) as values of
    this trace. `state` pairs variables with the values the pass reads
    (`recording.write_back`). With a per-sample `probe`
    (`keras_sam/backend/batch.py`) the gradients are `(weights', probe's)`.
    """
    step_variables = common.current_step()[0]
    current = _values(step_variables)
    scopes = []

    def scaled_loss(weights, probe):
        mapping = list(zip(step_variables, current))
        mapping += common.perturbed_mapping(spec, weights, state)
        scaled, loss, aux, scope = common.forward(
            spec, mapping, rows=rows, sample_scale=probe
        )
        scopes.append(scope)
        return scaled, (loss, aux, [value for _, value in scope.updates()])

    argnums = 0 if probe is None else (0, 1)
    (_, (loss, aux, new_values)), gradients = jax.value_and_grad(
        scaled_loss, argnums=argnums, has_aux=True
    )(weights, probe)
    # The scope's values are those of the inner trace; take the outputs'.
    scope = recording.RecordingScope()
    for (variable, _), value in zip(scopes[-1].updates(), new_values):
        scope.add_update((variable, value))
    probe_gradient = None
    if probe is not None:
        gradients, probe_gradient = gradients
    gradients = [ops.cast(g, "float32") * unscale for g in gradients]
    if probe is not None:
        gradients = (gradients, probe_gradient)
    return gradients, (loss, aux, scope)


class _Oracle:
    """Gradients at `w + offsets` for the variant (see tensorflow.py)."""

    def __init__(self, spec, weights, state, unscale, clean_losses):
        self.spec, self.weights, self.state = spec, weights, state
        self.unscale, self.clean_losses = unscale, clean_losses

    def _perturbed(self, offsets):
        return [w + ops.cast(o, w.dtype) for w, o in zip(self.weights, offsets)]

    def __call__(self, offsets, rows=None):
        common.record_perturbation(self.spec.recorder, offsets)
        return _gradients(
            self.spec, self._perturbed(offsets), self.state, self.unscale, rows
        )[0]

    def sample_losses(self, offsets=None):
        """Each sample's loss at `w + offsets`, or the first pass's."""
        if offsets is None:
            return self.clean_losses
        spec = self.spec
        step_variables = common.current_step()[0]
        current = _values(step_variables)
        mapping = list(zip(step_variables, current))
        mapping += common.perturbed_mapping(spec, self._perturbed(offsets), self.state)

        def scaled_loss(probe):
            return common.forward(spec, mapping, sample_scale=probe)[0]

        gradient = jax.grad(scaled_loss)(batch.probe(spec))
        return batch.sample_losses(gradient, spec.batch_size, self.unscale)


def minimize(spec):
    """One sharpness-aware step: `(loss, aux, perturbed, finite)`."""
    if common.current_step() is None:
        raise RuntimeError(
            "On the JAX backend a train step is a pure function of the "
            "model's state: decorate your `train_step(self, data)` with "
            "`@keras_sam.stateful_step`, which runs it over that state."
        )
    variant, optimizer, variables = spec.variant, spec.optimizer, spec.variables
    if not optimizer.built:
        raise ValueError(
            "On JAX the optimizer must be built before `fit`, and its "
            "variables carried from step to step: `model.optimizer` is, "
            "another one (a GAN's second optimizer) is carried when the "
            "model keeps its variables (see 'A second optimizer' in "
            "docs/using_keras_sam_with.md). Build it with "
            "`optimizer.build(trainable_variables)` in your model's "
            f"`compile`. Received: an unbuilt {type(optimizer).__name__}."
        )
    variant_state = _values(variant.state_variables())
    weights = _values(variables)
    step = ops.convert_to_tensor(optimizer.iterations)
    learning_rate = ops.convert_to_tensor(optimizer.learning_rate)
    variant.update_hyperparameters(step, learning_rate, optimizer)
    unscale = 1.0 / optimizer.scale_loss(ops.ones((), "float32"))

    # Pass 1: at `w` (or the variant's first-pass offsets); what it assigns
    # (BatchNorm statistics, seeds) is written, as a stateful pass would.
    offsets = variant.first_pass_offsets(variables)
    first = weights
    if offsets is not None:
        common.record_perturbation(spec.recorder, offsets)
        first = [w + ops.cast(o, w.dtype) for w, o in zip(weights, offsets)]
    probe = batch.probe(spec) if variant.needs_sample_losses else None
    gradients, (loss, aux, scope) = _gradients(
        spec, first, [], unscale, probe=probe
    )
    clean_losses = None
    if probe is not None:
        gradients, probe_gradient = gradients
        clean_losses = batch.sample_losses(probe_gradient, spec.batch_size, unscale)
    written = recording.write_back(spec, scope)

    oracle = _Oracle(spec, weights, written, unscale, clean_losses)
    update, perturbed = variant.compute_gradients(oracle, gradients, weights, step)

    def apply_fn(final_gradients):
        optimizer_variables = optimizer.variables
        new_weights, new_optimizer_values = optimizer.stateless_apply(
            _values(optimizer_variables),
            [optimizer.scale_loss(g) for g in final_gradients],
            _values(variables),
        )
        for v, value in zip(variables, new_weights):
            v.assign(value)
        for v, value in zip(optimizer_variables, new_optimizer_values):
            v.assign(value)

    def apply():
        variant.apply_gradients(apply_fn, update, variables, learning_rate)

    def skip():
        common.restore(
            spec, variant_state, [v for v, _ in written], [s for _, s in written]
        )
        common.back_off_loss_scale(optimizer)

    finite = common.step_is_finite(spec.recorder, gradients, update)
    cond(finite, apply, skip)
    return loss, aux, perturbed, finite


def _check_distribution(model):
    distribution = keras.distribution.distribution()
    if distribution is None or model.sync_perturbation:
        return
    devices = getattr(getattr(distribution, "device_mesh", None), "devices", None)
    if devices is not None and devices.size > 1:
        raise ValueError(
            "Under a keras.distribution on JAX the step sees the global batch, "
            "so gradients are global and a per-device perturbation (SAM's "
            "m-sharpness, `sync_perturbation=False`) cannot be formed. Pass "
            "`SAMModel(..., sync_perturbation=True)` for global SAM. Received: "
            f"sync_perturbation=False with {devices.size} devices."
        )


def train_step(model, state, data):
    """One SAM-family step of `SAMModel` (`model`): `(logs, new_state)`."""
    _check_distribution(model)
    return stateless_step(
        model, state, lambda: common.sam_model_step(model, data, minimize)
    )


def stateless_step(model, state, step_fn):
    """Runs a stateful `step_fn()` as Keras's JAX trainer wants a step.

    `state` holds the values of the model's variables (trainable,
    non-trainable, optimizer for a train step, metrics); `step_fn` reads and
    assigns the variables as on TensorFlow. Returns `(step_fn(), new_state)`.
    """
    compiled_for_cpu = bool(model.jit_compile) and jax.default_backend() == "cpu"
    values = [value for group in state for value in group]
    groups = len(state)
    with common.tracing_step(model, compiled_for_cpu, groups) as variables:
        logs, new_values = recording.run_stateless(step_fn, variables, values)
    new_state, start = [], 0
    for group in common.step_variable_groups(model, groups):
        new_state.append(new_values[start : start + len(group)])
        start += len(group)
    return logs, tuple(new_state)
