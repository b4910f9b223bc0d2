"""Hyperparameters of a variant: variables a callback or a schedule sets."""

import keras
from keras import ops

from keras_sam import schedules
from keras_sam.basics import check_range


class Hyperparameters:
    """Mixin of `Variant`: scalar hyperparameters held in variables.

    Each is a non-trainable `keras.Variable` the compiled step reads, so it
    changes without retracing: set by a callback (`variant.rho = 0.1`) or,
    when constructed with a schedule (`keras_sam.schedules`), by the step
    itself through `update_hyperparameters`.
    """

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
            first_rate = None
            if isinstance(value, schedules.RhoSchedule):
                # The optimizer's rate at the variant's first step (0 until
                # then): state, saved with the model.
                first_rate = self.add_weight(
                    shape=(),
                    initializer="zeros",
                    trainable=False,
                    name=f"{name}_first_learning_rate",
                    aggregation="only_first_replica",
                )
            scheduled = dict(self.__dict__.get("_schedules", {}))
            scheduled[name] = (value, variable, first_rate)
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
        optimizer's iteration count and its learning rate for this step. A
        `RhoSchedule` also reads the rate of the variant's first step, which
        the first call records. Does nothing for a variant without
        schedules. `optimizer` is unused (kept for custom steps that pass it).
        """
        del optimizer
        for schedule, variable, first_rate in self.__dict__.get(
            "_schedules", {}
        ).values():
            first = None
            if first_rate is not None and learning_rate is not None:
                rate = ops.cast(learning_rate, "float32")
                recorded = first_rate.value
                first = ops.where(recorded > 0.0, recorded, rate)
                first_rate.assign(first)
            variable.assign(schedules.evaluate(schedule, step, learning_rate, first))
