"""The `Variant` base class: the hooks every SAM-family algorithm overrides."""

import math
import numbers

import keras
from keras import ops

from keras_sam import backend
from keras_sam import custom_step
from keras_sam import schedules

_REGISTRY = {}

def registered():
    """Returns `{identifier: class}` for every registered variant."""
    return dict(_REGISTRY)


def check_range(name, value, low=None, high=None, low_open=True, high_open=True):
    """Raises `ValueError` unless `value` is a finite number in the range.

    `low`/`high` are optional; `low_open`/`high_open` choose strict (`<`) or
    inclusive (`<=`) bounds.
    """
    if schedules.is_schedule(value):
        raise ValueError(
            f"Argument `{name}` takes a number, not a schedule (only the "
            "radii, e.g. `rho`, take a schedule, in a constructor). "
            f"Received: {name}={value!r}"
        )
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"Argument `{name}` must be a number. Received: {name}={value!r}"
        )
    bad = not math.isfinite(value)
    if low is not None:
        bad |= value <= low if low_open else value < low
    if high is not None:
        bad |= value >= high if high_open else value > high
    if bad:
        left = "" if low is None else f"{low} {'<' if low_open else '<='} "
        right = "" if high is None else f" {'<' if high_open else '<='} {high}"
        raise ValueError(
            f"Argument `{name}` must satisfy {left}{name}{right}. "
            f"Received: {name}={value!r}"
        )
    return value


def global_norm(tensors):
    """The L2 norm over all tensors together (float32)."""
    return ops.sqrt(sum(ops.sum(ops.square(t)) for t in tensors))


def global_dot(a, b):
    """The inner product of two lists of tensors, summed over all of them."""
    return sum(ops.sum(x * y) for x, y in zip(a, b))


class Variant(keras.layers.Layer):
    """Base class of the SAM-family algorithms.

    A variant never runs the training loop. `SAMModel`'s backend runs the
    first (clean) pass, then calls `compute_gradients` with a gradient oracle
    `gradient_fn(offsets)` that returns the unscaled float32 gradients of the
    same batch at `w + offsets` without changing any weight, and finally
    `apply_gradients`. A new algorithm overrides hooks:

    - `perturbation(gradients, variables)` -> offsets (required),
    - `combine(gradients, perturbed_gradients, variables)` -> the gradients
      given to the optimizer on a perturbed step (default: the perturbed ones),
    - `fallback_gradients(gradients, variables)` -> the gradients of a step
      without a perturbed pass (default: the clean ones),
    - `should_perturb(gradients, step)` -> a boolean tensor, or `None` for
      "every step"; by default it asks the variant's `policy` attribute (a
      `keras_sam.policies.Policy`) and is `None` without one,
    - `build(input_shape)` to create state (`keras.Variable`s only) from
      the list of trainable variables' shapes,

    and, where the template does not fit, the escape hatches
    `compute_gradients` (several ascent steps) and `apply_gradients` (updates
    outside the base optimizer). All math is `keras.ops` on lists of tensors.

    `rho` lives in a non-trainable variable, so a callback can change it
    during training without retracing; or it follows a schedule.

    Args:
        rho: float > 0, radius of the perturbation, or a schedule of it (a
            `keras.optimizers.schedules.LearningRateSchedule`, e.g.
            `CosineDecay(0.05, 1000)`, or a `keras_sam.schedules.RhoSchedule`
            such as `FollowLearningRate`), evaluated in each step.
        epsilon: float >= 0 added to norms in denominators.
    """

    identifier = None
    # True for a variant that reads the loss of each sample: the first pass
    # then records them for `gradient_fn.sample_losses()` (ESAM).
    needs_sample_losses = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("identifier"):
            _REGISTRY[cls.identifier] = cls

    def __init__(self, rho=0.05, epsilon=1e-12, **kwargs):
        kwargs.setdefault("name", self.identifier)
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        check_rho = lambda value: check_range("rho", value, low=0.0)
        rho = schedules.deserialize(rho)
        if not schedules.is_schedule(rho):
            check_rho(rho)
        check_range("epsilon", epsilon, low=0.0, low_open=False)
        self.epsilon = float(epsilon)
        self.rho = self.hyperparameter("rho", rho, check=check_rho)

    def __setattr__(self, name, value):
        # `variant.rho = 0.1` sets the variable the compiled step reads, as
        # `optimizer.learning_rate = ...` does, instead of hiding it.
        checks = self.__dict__.get("_hyperparameter_checks", {})
        current = self.__dict__.get(name)
        if name in checks and isinstance(current, keras.Variable) and not (
            isinstance(value, keras.Variable)
        ):
            if name in self.__dict__.get("_schedules", {}):
                raise TypeError(
                    f"`{name}` of {type(self).__name__} follows a schedule "
                    "(given to its constructor), which sets it in every "
                    "step, so it is not settable. To set it from a callback, "
                    f"construct the variant with a float `{name}`. Received: "
                    f"{name}={value!r}"
                )
            current.assign(float(checks[name](value)))
            return
        super().__setattr__(name, value)

    def hyperparameter(self, name, value, check=None):
        """A scalar variable a callback may change without retracing.

        Not part of `state_variables()`: a skipped step leaves it alone.
        Setting the attribute it is stored under (`name`) to a number
        assigns the variable; `check(value)` validates that number (default:
        finite). `value` may be a schedule (see `keras_sam.schedules`, or
        its serialized config): then each step sets the variable to the
        schedule's value before the variant runs
        (`update_hyperparameters`), the attribute is not settable, and
        `hyperparameter_config(name)` serializes the schedule. Before the
        first step the variable holds a plain schedule's value at step 0
        (0.0 for a `RhoSchedule`, which needs the learning rate).
        """
        checks = dict(self.__dict__.get("_hyperparameter_checks", {}))
        checks[name] = check or (lambda v: check_range(name, v))
        self.__dict__["_hyperparameter_checks"] = checks
        value = schedules.deserialize(value)
        configs = dict(self.__dict__.get("_hyperparameter_configs", {}))
        self.__dict__["_hyperparameter_configs"] = configs
        if schedules.is_schedule(value):
            configs[name] = value
            initial = 0.0 if isinstance(value, schedules.RhoSchedule) else (
                float(ops.convert_to_numpy(value(0)))
            )
        else:
            initial = configs[name] = float(checks[name](value))
        variable = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(initial),
            trainable=False,
            name=name,
            aggregation="only_first_replica",
        )
        ids = getattr(self, "_hyperparameter_ids", frozenset())
        self._hyperparameter_ids = ids | {id(variable)}
        if schedules.is_schedule(value):
            scheduled = dict(self.__dict__.get("_schedules", {}))
            scheduled[name] = (value, variable)
            self.__dict__["_schedules"] = scheduled
        return variable

    def hyperparameter_config(self, name):
        """The constructor's value of `name` for `get_config`: the float, or
        the schedule serialized (`keras.saving.serialize_keras_object`)."""
        value = self._hyperparameter_configs[name]
        if schedules.is_schedule(value):
            return keras.saving.serialize_keras_object(value)
        return value

    def update_hyperparameters(self, step, learning_rate=None, optimizer=None):
        """Sets each scheduled hyperparameter to its schedule's value.

        Every backend's step calls it before `compute_gradients`, with the
        optimizer's iteration count, its learning rate for this step and the
        optimizer (whose rate at step 0 a `RhoSchedule` may read). Does
        nothing for a variant without schedules.
        """
        for schedule, variable in self.__dict__.get("_schedules", {}).values():
            variable.assign(
                schedules.evaluate(schedule, step, learning_rate, optimizer)
            )

    # -- state --------------------------------------------------------------

    def build(self, input_shape):
        """Creates state; `input_shape` lists the trainable variables' shapes.

        Keras records it in the build config, so a loaded model recreates the
        state before its saved values are restored.
        """
        del input_shape

    def hyperparameters(self):
        """The hyperparameter variables (`rho`, ...), in creation order."""
        return [
            v for v in self.variables if id(v) in self._hyperparameter_ids
        ]

    def state_variables(self):
        """Variables the step may change (restored when a step is skipped)."""
        return [
            v
            for v in self.non_trainable_variables
            if id(v) not in self._hyperparameter_ids
        ]

    def callbacks(self):
        """Callbacks `SAMModel.fit` adds for this variant (unless given).

        For host-side work a variant needs from the run, e.g. learning the
        total number of steps. Default: none.
        """
        return []

    # -- hooks --------------------------------------------------------------

    def perturbation(self, gradients, variables):
        raise NotImplementedError(
            f"{type(self).__name__} must implement `perturbation`."
        )

    def combine(self, gradients, perturbed_gradients, variables):
        del gradients, variables
        return perturbed_gradients

    def fallback_gradients(self, gradients, variables):
        del variables
        return gradients

    def first_pass_offsets(self, variables):
        """Offsets at which the step's first pass runs, or `None` (at `w`).

        A variant whose only pass is at a perturbed point (MSAM) returns
        them: the first pass then runs at `w + offsets`, its loss, metrics
        and BatchNorm update are the step's, and `gradients` are taken
        there. Computed from the variant's state before the pass.
        """
        del variables
        return None

    def should_perturb(self, gradients, step):
        """Asks `self.policy` (a `keras_sam.policies.Policy`) if there is one."""
        policy = getattr(self, "policy", None)
        if policy is None:
            return None
        return policy.should_perturb(gradients, step)

    # -- escape hatches -----------------------------------------------------

    def compute_gradients(self, gradient_fn, gradients, variables, step):
        """Returns `(update, perturbed)` for this step.

        `update` is what `apply_gradients` consumes (by default the list of
        gradients for the optimizer); `perturbed` is a float scalar, 1.0 when
        a perturbed pass was taken.
        """

        def perturbed_step():
            offsets = self.perturbation(gradients, variables)
            perturbed_gradients = gradient_fn(offsets)
            return (
                self.combine(gradients, perturbed_gradients, variables),
                ops.ones((), "float32"),
            )

        def clean_step():
            return (
                self.fallback_gradients(gradients, variables),
                ops.zeros((), "float32"),
            )

        decision = self.should_perturb(gradients, step)
        if decision is None:
            return perturbed_step()
        return backend.cond(decision, perturbed_step, clean_step)

    def apply_gradients(self, apply_fn, update, variables, learning_rate):
        """Applies `update`; `apply_fn(gradients)` runs the base optimizer.

        `learning_rate` is the optimizer's rate for this step, read before
        `apply_fn` advances its iteration counter.
        """
        del variables, learning_rate
        apply_fn(update)

    # -- inside your own train step ----------------------------------------

    def minimize(self, loss_fn, model, optimizer=None):
        """Takes this variant's step inside your own `train_step`.

        Runs the clean pass `loss_fn()`, the variant's perturbed pass(es)
        at `w + offsets` and applies the combined gradient with `optimizer`,
        with the guarantees of `SAMModel`'s step: the weights are exactly
        what the optimizer made of them; the perturbed passes read the
        non-trainable state (BatchNorm statistics, dropout seeds) as it was
        before the clean pass (same dropout masks), and only the clean pass
        updates it; gradients are unscaled before any norm (loss scaling);
        a step whose gradients are not finite changes nothing (weights,
        state, optimizer and variant state) but backs off a
        `LossScaleOptimizer`'s scale.

        Args:
            loss_fn: a zero-argument closure that runs the forward pass with
                `training=True` and returns the scalar loss, or
                `(loss, aux)`. It runs once per pass, so it must read the
                batch from its enclosing scope and not update metrics.
                Under `tf.distribute`, return the loss as Keras losses do
                (divided by the number of replicas).
            model: the `keras.Model` or layer to train: its
                `trainable_variables` are trained and its
                `non_trainable_variables` are the state the passes share.
            optimizer: the base optimizer; defaults to `model.optimizer`.

        Returns:
            A `keras_sam.StepResult(loss, aux, perturbed, finite)`: the clean
            pass's loss and aux outputs, 1.0 if the step took a perturbed
            pass (else 0.0), and False where the step was skipped.

        The variant must be built for `model.trainable_variables`
        (`variant.build([v.shape for v in model.trainable_variables])`)
        before training. On JAX, decorate the train step with
        `@keras_sam.stateful_step`.

        Example:

        ```python
        class Classifier(keras.Model):
            def __init__(self, net):
                super().__init__()
                self.net = net
                self.sam = keras_sam.variants.SAM(rho=0.05)
                self.sam.build([v.shape for v in net.trainable_variables])

            def call(self, x, training=False):
                return self.net(x, training=training)

            @keras_sam.stateful_step
            def train_step(self, data):
                x, y = data
                def loss_fn():
                    y_pred = self(x, training=True)
                    return self.compute_loss(x, y, y_pred), y_pred
                result = self.sam.minimize(loss_fn, self)
                return self.compute_metrics(x, y, result.aux)
        ```
        """
        return custom_step.minimize(self, loss_fn, model, optimizer)

    # -- shared math --------------------------------------------------------

    def normalized(self, tensors, radius):
        """`radius * tensors / (||tensors|| + epsilon)`, global norm."""
        scale = radius / (global_norm(tensors) + self.epsilon)
        return [t * scale for t in tensors]

    # -- serialization ------------------------------------------------------

    def get_config(self):
        # The constructor's rho (a float or a serialized schedule); a value a
        # callback set is saved with the weights.
        return {
            "rho": self.hyperparameter_config("rho"),
            "epsilon": self.epsilon,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
