"""`SAMModel`: wraps any Keras 3 model and trains it with a SAM-family variant."""

import keras

from keras_sam import backend
from keras_sam import variants as variants_lib


@keras.saving.register_keras_serializable(package="keras_sam")
class SAMModel(keras.Model):
    """Trains any Keras model with Sharpness-Aware Minimization.

    Wrap the model, compile and `fit` as usual: each step runs the clean pass,
    the variant's perturbed pass(es) and hands the combined gradient to the
    unchanged base optimizer (so clipping, weight decay, EMA, gradient
    accumulation, loss scaling and learning-rate schedules keep working).
    `evaluate`, `predict`, `call` and `export` behave as the inner model's.

    Logged per step and averaged per epoch: `loss` and the compiled metrics
    from the clean pass, `sam_fraction` (share of steps that took a perturbed
    pass), `perturbation_norm` (mean `||offsets||` over perturbed passes
    with finite offsets; equals `rho` for SAM) and `skipped_steps` (steps of
    the epoch skipped because a gradient was not finite).

    Args:
        model: the `keras.Model` to train (Sequential, Functional or
            subclassed; built or not).
        variant: a `keras_sam.variants.Variant`, a registered string (`"sam"`,
            `"asam"`, ...) or a config dict. Defaults to `"sam"`.
        sync_perturbation: under `tf.distribute`, all-reduce the clean
            gradient before forming the perturbation (global SAM). The default
            `False` perturbs each replica with its own gradient (m-sharpness,
            as in the SAM paper). On JAX under a multi-device
            `keras.distribution` the step's gradients are global, and only
            `True` is allowed.
        **kwargs: `keras.Model` arguments such as `name`.

    Example:

    ```python
    model = keras_sam.SAMModel(inner, variant="sam")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=3)
    ```
    """

    def __init__(self, model, variant="sam", sync_perturbation=False, **kwargs):
        if not isinstance(model, keras.Model):
            raise TypeError(
                "Argument `model` must be a keras.Model (Sequential, "
                f"Functional or subclassed). Received: model={model!r}"
            )
        backend.module()  # A clear error on a backend without a train step.
        if not isinstance(sync_perturbation, bool):
            raise ValueError(
                "Argument `sync_perturbation` must be True or False. "
                f"Received: sync_perturbation={sync_perturbation!r}"
            )
        # The wrapper computes in the inner model's precision, so that
        # `compile` adds loss scaling for a `mixed_float16` inner model.
        kwargs.setdefault("dtype", model.dtype_policy)
        super().__init__(**kwargs)
        self.model = model
        self.variant = variants_lib.get(variant)
        self.sync_perturbation = sync_perturbation
        self.sam_fraction_tracker = keras.metrics.Mean(name="sam_fraction")
        self.perturbation_norm_tracker = keras.metrics.Mean(
            name="perturbation_norm"
        )
        self.skipped_steps_tracker = keras.metrics.Sum(name="skipped_steps")
        if model.built:
            self.build()

    def build(self, input_shape=None):
        if not self.model.built:
            self.model.build(input_shape)
        if not self.model.trainable_variables:
            raise ValueError(
                f"The wrapped model {self.model.name!r} has no trainable "
                "weights, so there is nothing to train. Unfreeze some layers "
                "(`layer.trainable = True`) before wrapping it."
            )
        if not self.variant.built:
            self.variant.build([v.shape for v in self.model.trainable_variables])
        self.built = True

    def call(self, inputs, training=None, mask=None):
        if mask is None:
            return self.model(inputs, training=training)
        return self.model(inputs, training=training, mask=mask)

    def train_step(self, *args):
        # TensorFlow and PyTorch pass `data`; JAX passes `state, data`.
        return backend.module().train_step(self, *args)

    def fit(self, *args, callbacks=None, **kwargs):
        """`keras.Model.fit`, plus the callbacks the variant needs.

        A variant's callback is added only when `callbacks` holds none of its
        type, so a user may pass a configured one. Added callbacks run first,
        so that loggers among the user's callbacks see what they log.
        """
        callbacks = list(callbacks or [])
        added = [
            callback
            for callback in self.variant.callbacks()
            if not any(type(c) is type(callback) for c in callbacks)
        ]
        callbacks = added + callbacks
        return super().fit(*args, callbacks=callbacks, **kwargs)

    def export(self, filepath, format="tf_saved_model", **kwargs):
        """Exports the inner model: the artifact serves without keras_sam."""
        return self.model.export(filepath, format=format, **kwargs)

    def _rng_states(self):
        """The inner model's RNG seed states, which Keras does not save."""
        weights = {id(v) for v in self.model.non_trainable_weights}
        return [v for v in self.model.non_trainable_variables if id(v) not in weights]

    def save_own_variables(self, store):
        # Saving the dropout seed states makes a resumed run draw the same
        # masks as an uninterrupted one.
        for i, v in enumerate(self._rng_states()):
            store[f"rng_state_{i}"] = v.numpy()

    def load_own_variables(self, store):
        for i, v in enumerate(self._rng_states()):
            if f"rng_state_{i}" in store:
                v.assign(store[f"rng_state_{i}"])

    def get_config(self):
        return {
            "name": self.name,
            "model": keras.saving.serialize_keras_object(self.model),
            "variant": keras.saving.serialize_keras_object(self.variant),
            "sync_perturbation": self.sync_perturbation,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["model"] = keras.saving.deserialize_keras_object(
            config["model"], custom_objects=custom_objects
        )
        config["variant"] = keras.saving.deserialize_keras_object(
            config["variant"], custom_objects=custom_objects
        )
        return cls(**config)
