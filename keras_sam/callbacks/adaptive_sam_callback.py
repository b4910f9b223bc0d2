"""`AdaptiveSAMCallback`: the host side of AE-SAM's switch."""

import math
import numbers

import keras
from keras import ops

# T while an epoch of unknown length runs: t/T ~ 0 keeps c_t at lambda_2.
_UNKNOWN_TOTAL = float(2**31)


@keras.saving.register_keras_serializable(package="keras_sam")
class AdaptiveSAMCallback(keras.callbacks.Callback):
    """Tells AE-SAM's switch the run's length and logs its statistics.

    `SAMModel.fit` adds it for `"ae_sam"` and `"ae_look_sam"`, ahead of the
    user's callbacks so that loggers record its values; pass one yourself
    only to fix T (`total_steps`), before any logger. The per-step
    decision runs in the compiled step (`keras_sam.policies.AdaptivePolicy`);
    the statistics are variables of the variant, so `.keras` checkpoints and
    `BackupAndRestore` restore them. docs/variants/ae_sam.md explains how the
    two relate.

    Rule: at the first epoch, `T = t_0 + (epochs - initial_epoch) * steps`
    (`t_0` the optimizer's iterations then; `epochs * steps` for a fresh or a
    resumed run), assigned to the policy's `total_steps` variable (no
    retracing). With an unknown number of steps per epoch, T is measured
    from the first epoch (during it `c_t = lambda_2`). At each epoch's end it
    adds `ae_mu` (`mu`, moving mean of `||g||^2`), `ae_sigma` (`sqrt(var)`)
    and `ae_c` (`c_t` of the last step) to the logs, next to `sam_fraction`.
    T counts optimizer updates (`t` is `optimizer.iterations`): with the
    optimizer's `gradient_accumulation_steps=n`, the learned T is the
    remaining batches divided by `n` (floor), as Keras advances the
    iterations once per `n` batches.

    Args:
        total_steps: int >= 1 or None, T for the schedule; None (default)
            learns it from `fit`.

    Example:

    ```python
    model = keras_sam.SAMModel(inner, variant="ae_sam")
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=5)
    history.history["ae_sigma"]
    ```
    """

    def __init__(self, total_steps=None):
        super().__init__()
        if total_steps is not None and (
            isinstance(total_steps, bool)
            or not isinstance(total_steps, numbers.Integral)
            or total_steps < 1
        ):
            raise ValueError(
                "Argument `total_steps` must be None or an integer >= 1. "
                f"Received: total_steps={total_steps!r}"
            )
        self.total_steps = total_steps
        self._policy = None
        self._pending = False
        self._measuring = None

    def _find_policy(self):
        # Imported here: keras_sam.variants imports this module.
        from keras_sam.policies.adaptive_policy import AdaptivePolicy

        variant = getattr(self.model, "variant", None)
        policy = getattr(variant, "policy", None)
        if not isinstance(policy, AdaptivePolicy):
            raise ValueError(
                "AdaptiveSAMCallback needs a keras_sam.SAMModel whose variant "
                "uses an AdaptivePolicy (e.g. 'ae_sam', 'ae_look_sam'). "
                f"Received a model with variant={variant!r}"
            )
        return policy

    def _iterations(self):
        return int(ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_train_begin(self, logs=None):
        self._policy = self._find_policy()
        self._pending = True

    def on_epoch_begin(self, epoch, logs=None):
        if not self._pending:
            return
        self._pending = False
        start, steps = self._iterations(), self.params.get("steps")
        accumulation = getattr(self.model.optimizer, "gradient_accumulation_steps", None) or 1
        if self.total_steps is not None:
            total = self.total_steps
        elif steps:
            total = start + (self.params["epochs"] - epoch) * steps // accumulation
        else:
            total, self._measuring = _UNKNOWN_TOTAL, start
        self._policy.total_steps.assign(float(total))

    def on_epoch_end(self, epoch, logs=None):
        iterations = self._iterations()
        if self._measuring is not None:
            steps = iterations - self._measuring
            remaining = self.params["epochs"] - epoch - 1
            total = iterations + remaining * steps
            self._policy.total_steps.assign(float(total))
            self._measuring = None
        if logs is not None:
            logs.update(self._statistics(iterations))

    def _statistics(self, iterations):
        """`{"ae_mu", "ae_sigma", "ae_c"}` after `iterations` steps."""
        policy = self._policy
        last_step = max(iterations - 1, 0)
        return {
            "ae_mu": float(ops.convert_to_numpy(policy.moving_mean)),
            "ae_sigma": math.sqrt(
                float(ops.convert_to_numpy(policy.moving_variance))
            ),
            "ae_c": float(ops.convert_to_numpy(policy.coefficient(last_step))),
        }

    def get_config(self):
        """The constructor's arguments: `{"total_steps": ...}`."""
        return {"total_steps": self.total_steps}

    @classmethod
    def from_config(cls, config):
        """A callback built from `get_config()`'s dict."""
        return cls(**config)
