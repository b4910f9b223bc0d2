"""The `Variant` base class: the hooks every SAM-family algorithm overrides."""

import keras
from keras import ops

from keras_sam import executor
from keras_sam import schedules
from keras_sam.basics import check_range, global_norm
from keras_sam.variants.hyperparameters import Hyperparameters

_REGISTRY = {}

def registered():
    """Returns `{identifier: class}` for every registered variant."""
    return dict(_REGISTRY)


class Variant(Hyperparameters, keras.layers.Layer):
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
      the list of trainable variables' shapes (`variable_paths` holds their
      paths when `SAMModel` builds it),
    - `first_pass_offsets(variables)` -> offsets at which the first pass
      runs, or `None` for `w` (MSAM's only pass is at a perturbed point),

    and, where the template does not fit, the escape hatches
    `compute_gradients` (several ascent steps) and `apply_gradients` (updates
    outside the base optimizer). All math is `keras.ops` on lists of tensors.
    Inside `compute_gradients` the oracle also takes
    `gradient_fn(offsets, rows=indices)` (a pass on some rows of the batch)
    and, for a variant with `needs_sample_losses = True`, gives each
    sample's loss: `gradient_fn.sample_losses()` from the first pass,
    `gradient_fn.sample_losses(offsets)` from a forward pass at
    `w + offsets` (ESAM's data selection; `SAMModel` only).

    `rho` lives in a non-trainable variable, so a callback can change it
    during training without retracing; or it follows a schedule. A radius
    of a new variant made with `self.r = self.hyperparameter("r", r, check)`
    (see `Hyperparameters`) takes a float or a schedule in the same way.

    Args:
        rho: float > 0, radius of the perturbation, or a schedule of it (a
            `keras.optimizers.schedules.LearningRateSchedule`, e.g.
            `CosineDecay(0.05, 1000)`, or a `keras_sam.schedules.RhoSchedule`
            such as `FollowLearningRate`), evaluated in each step.
        epsilon: float >= 0 added to norms in denominators.
    """

    identifier = None
    # The grid `keras-sam benchmark --tune` searches, `{argument: values}`
    # (a variant sets its own). SAM's paper tunes rho in {0.01, 0.02, 0.05,
    # 0.1, 0.2, 0.5}; the grid keeps the three values around its recommended
    # 0.05 that fit a 2-core budget.
    tuning_grid = {"rho": (0.05, 0.1, 0.2)}
    # True for a variant that reads the loss of each sample: the first pass
    # then records them for `gradient_fn.sample_losses()` (ESAM).
    needs_sample_losses = False
    # The paths of the variables the variant is built for, in order, where
    # known (`SAMModel` sets them before `build`), else None.
    variable_paths = None

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
        """The offsets `e` of the perturbed pass (every variant implements it).

        Args:
            gradients: the clean pass's unscaled float32 gradients, one per
                trainable variable (zeros for a variable without one).
            variables: the trainable variables, in the same order.

        Returns:
            A list of float32 tensors, one per variable: the step's
            perturbed pass takes the gradients at `w + e`.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement `perturbation`."
        )

    def combine(self, gradients, perturbed_gradients, variables):
        """The gradients handed to the optimizer on a perturbed step.

        Args:
            gradients: the clean pass's gradients, as in `perturbation`.
            perturbed_gradients: the gradients at `w + e`, same order.
            variables: the trainable variables, same order.

        Returns:
            A list of gradients, one per variable. Default: the perturbed
            gradients (SAM's update).
        """
        del gradients, variables
        return perturbed_gradients

    def fallback_gradients(self, gradients, variables):
        """The gradients handed to the optimizer on a step without a perturbed pass.

        Used where `should_perturb` decides against the perturbed pass
        (LookSAM's reuse between its every-k-th steps, AE-SAM's flat steps).

        Args:
            gradients: the clean pass's gradients, as in `perturbation`.
            variables: the trainable variables, same order.

        Returns:
            A list of gradients, one per variable. Default: the clean ones.
        """
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
        return executor.cond(decision, perturbed_step, clean_step)

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
                `trainable_variables` are trained; what the clean pass
                assigns (BatchNorm statistics, seeds, RNN states) is the
                state the perturbed passes read as it was before it.
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
        return executor.minimize(self, loss_fn, model, optimizer)

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
