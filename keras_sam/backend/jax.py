"""JAX primitives of the step (`step.py`), and `SAMModel`'s train step.

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
  refused (`recording.check_carried`) rather than losing the new value;
- a branch that assigns variables goes through `cond` (below), which carries
  the step's variables in and out of `jax.lax.cond`;
- the base optimizer runs through its `stateless_apply` (which keeps loss
  scaling and gradient accumulation working under `jit`);
- a pass nested in the step reads the step's current values explicitly
  (`enclosing_mapping`).

Under `keras.distribution.DataParallel` the step sees the global batch, so its
gradients are global: SAMModel asks for `sync_perturbation=True` there.
"""

import contextlib

import jax
import keras
from keras import ops

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


def value_and_grad(fn, sources):
    """`((value, aux), gradients)` of `fn(sources)` (see `step.py`)."""
    return jax.value_and_grad(fn, has_aux=True)(list(sources))


def read(variable):
    """The variable's value in the step (values are immutable in JAX)."""
    return ops.convert_to_tensor(variable)


def replicas():
    """The step sees the global batch: no per-replica loss scaling."""
    return 1


def mean_over_replicas(values):
    """Gradients are already global (see the module docstring)."""
    return values


def apply(optimizer, gradients, variables, count):
    """The base optimizer's `stateless_apply`, assigned to the variables."""
    del count
    optimizer_variables = optimizer.variables
    new_weights, new_optimizer_values = optimizer.stateless_apply(
        _values(optimizer_variables),
        [optimizer.scale_loss(g) for g in gradients],
        _values(variables),
    )
    for v, value in zip(variables, new_weights):
        v.assign(value)
    for v, value in zip(optimizer_variables, new_optimizer_values):
        v.assign(value)


def enclosing_mapping():
    """A pass inside the step reads the step's current values (a nested
    `StatelessScope` does not see the enclosing one's)."""
    variables = common.current_step()[0]
    return list(zip(variables, _values(variables)))


def step_scope(spec):
    """Checks that the step can run as a pure function of the carried state."""
    if common.current_step() is None:
        raise RuntimeError(
            "On the JAX backend a train step is a pure function of the "
            "model's state: decorate your `train_step(self, data)` with "
            "`@keras_sam.stateful_step`, which runs it over that state."
        )
    if not spec.optimizer.built:
        raise ValueError(
            "On JAX the optimizer must be built before `fit`, and its "
            "variables carried from step to step: `model.optimizer` is, "
            "another one (a GAN's second optimizer) is carried when the "
            "model keeps its variables (see 'A second optimizer' in "
            "docs/using_keras_sam_with.md). Build it with "
            "`optimizer.build(trainable_variables)` in your model's "
            f"`compile`. Received: an unbuilt {type(spec.optimizer).__name__}."
        )
    return contextlib.nullcontext()


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


def train_step(model, step_fn, state, data):
    """`step_fn(model, data)`, `SAMModel`'s step, as a pure function of
    `state`: `(logs, new_state)`."""
    _check_distribution(model)
    return stateless_step(model, state, lambda: step_fn(model, data))


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
