"""JAX train step and gradient oracle for `SAMModel`.

Keras's JAX trainer calls `train_step(state, data)` with the values of every
variable of the model (trainable, non-trainable, optimizer, metrics) and
expects their new values back: the step is a pure function. This one runs
SAMModel's code inside a `keras.StatelessScope` over all of those values, so
variants, policies and metrics read and assign `keras.Variable`s exactly as
on TensorFlow, and the scope's final values are the new state. Differences
from the TensorFlow backend, none visible to a variant:

- gradients come from `jax.value_and_grad` of a stateless pass; pass 1
  returns its new non-trainable state (BatchNorm statistics, seeds) as aux;
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

from keras_sam.backend import common


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
        return lambda values: common.run_stateless(fn, variables, values)

    outputs, values = jax.lax.cond(
        pred, branch(true_fn), branch(false_fn), _values(variables)
    )
    for variable, value in zip(variables, values):
        variable.assign(value)
    return outputs


def _gradients(model, data, weights, state, unscale):
    """Unscaled float32 gradients at `weights`, and pass 1's aux outputs."""
    step_variables = common.current_step()[0]
    current = _values(step_variables)
    inner_state = model.model.non_trainable_variables

    def scaled_loss(weights):
        mapping = list(zip(step_variables, current))
        mapping += common.perturbed_mapping(model, weights, state)
        scaled, loss, y_pred, scope = common.forward(model, data, mapping)
        return scaled, (loss, y_pred, common.collect(scope, inner_state, state))

    (_, aux), gradients = jax.value_and_grad(scaled_loss, has_aux=True)(weights)
    gradients = [ops.cast(g, "float32") * unscale for g in gradients]
    return gradients, aux


def _step(model, data):
    x, y, sample_weight = data
    inner, variant, optimizer = model.model, model.variant, model.optimizer
    variables = model.trainable_variables
    state = _values(inner.non_trainable_variables)
    variant_state = _values(variant.state_variables())
    weights = _values(variables)
    step = ops.convert_to_tensor(optimizer.iterations)
    learning_rate = ops.convert_to_tensor(optimizer.learning_rate)
    unscale = 1.0 / optimizer.scale_loss(ops.ones((), "float32"))

    # Pass 1: clean; its BatchNorm statistics and seeds become the state.
    gradients, (loss, y_pred, new_state) = _gradients(
        model, data, weights, state, unscale
    )
    for v, value in zip(inner.non_trainable_variables, new_state):
        v.assign(value)
    model._loss_tracker.update_state(loss, sample_weight=common.batch_size(x))

    def oracle(offsets):
        common.record_perturbation(model, offsets)
        perturbed = [w + ops.cast(o, w.dtype) for w, o in zip(weights, offsets)]
        return _gradients(model, data, perturbed, state, unscale)[0]

    update, perturbed = variant.compute_gradients(oracle, gradients, weights, step)
    model.sam_fraction_tracker.update_state(perturbed)

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
        common.restore(model, variant_state, state)
        common.back_off_loss_scale(optimizer)

    finite = common.step_is_finite(model, gradients, update)
    cond(finite, apply, skip)
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


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
    compiled_for_cpu = bool(model.jit_compile) and jax.default_backend() == "cpu"
    values = [value for group in state for value in group]
    data = keras.utils.unpack_x_y_sample_weight(data)
    with common.tracing_step(model, compiled_for_cpu) as variables:
        logs, new_values = common.run_stateless(
            lambda: _step(model, data), variables, values
        )
    new_state, start = [], 0
    for group in common.step_variable_groups(model):
        new_state.append(new_values[start : start + len(group)])
        start += len(group)
    return logs, tuple(new_state)
