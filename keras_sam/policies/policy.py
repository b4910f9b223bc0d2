"""The `Policy` base class: when a variant takes its perturbed pass."""

import keras


@keras.saving.register_keras_serializable(package="keras_sam")
class Policy(keras.layers.Layer):
    """Decides, inside the compiled step, whether to take the perturbed pass.

    Use a policy to make a variant skip its perturbed pass on some steps
    (LookSAM's every-k period, AE-SAM's adaptive switch). The variant holds the
    policy as an attribute, so the policy's variables are the variant's state:
    saved with the model and restored when a step is skipped for non-finite
    values. The decision is a tensor the variant branches on with
    `keras_sam.backend.cond` (an `ops.cond` whose branches may assign),
    so a perturbed pass that is not taken never runs, under XLA too.

    Rule: `should_perturb(gradients, step) -> bool` scalar tensor, from the
    clean gradients and the optimizer's iteration counter before the step.

    Args:
        **kwargs: `keras.layers.Layer` arguments such as `name`.

    Example:

    ```python
    class Never(keras_sam.policies.Policy):
        def should_perturb(self, gradients, step):
            return keras.ops.zeros((), "bool")
    ```
    """

    def __init__(self, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        # Policies are never called as layers; their variables (if any) are
        # created here, independent of any input shape.
        self.built = True

    def should_perturb(self, gradients, step):
        """Whether this step takes the perturbed pass (every policy implements it).

        Args:
            gradients: the clean pass's unscaled float32 gradients, one per
                trainable variable.
            step: the optimizer's iteration counter before the step (an
                integer tensor).

        Returns:
            A boolean scalar tensor, the same on every replica.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement `should_perturb`."
        )

    def scalar(self, name, value, dtype="float32"):
        """A non-trainable scalar variable, identical on every replica."""
        return self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(value),
            dtype=dtype,
            trainable=False,
            name=name,
            aggregation="only_first_replica",
        )
