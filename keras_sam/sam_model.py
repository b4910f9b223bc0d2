"""`SAMModel`: wraps any Keras 3 model and trains it with a SAM-family variant."""

import inspect

import keras

from keras_sam import backend
from keras_sam import keras_private
from keras_sam import pipeline
from keras_sam import sam_step
from keras_sam import variant_binding as binding
from keras_sam import variants as variants_lib


def _evaluating(method):
    """`method` with `get_metrics_result` as in the wrapped model's evaluate."""

    def evaluating(self, *args, **kwargs):
        outer = getattr(self, "_in_evaluate", False)
        self._in_evaluate = True
        try:
            return method(self, *args, **kwargs)
        finally:
            self._in_evaluate = outer

    evaluating.__name__ = method.__name__
    evaluating.__doc__ = method.__doc__
    return evaluating


@keras.saving.register_keras_serializable(package="keras_sam")
class SAMModel(keras.Model):
    """Trains any Keras model with Sharpness-Aware Minimization.

    Wrap the model, compile and `fit` as usual: each step runs the clean pass,
    the variant's perturbed pass(es) and hands the combined gradient to the
    unchanged base optimizer, whose clipping, weight decay, EMA, loss scaling
    and learning-rate schedules act on it as on a plain gradient. Exception:
    `WSAM(decoupled=True)` (its default) applies its sharpness term outside
    the optimizer, so none of them acts on that term. With the optimizer's
    `gradient_accumulation_steps`, every batch is a micro-step with its own
    passes and its own perturbation, and `optimizer.iterations` (LookSAM's
    period, AE-SAM's `t`) counts updates, not batches.
    `evaluate`, `predict`, `call` and `export` behave as the inner model's.

    The loss of every pass is the wrapped model's `compute_loss` when its
    class overrides it (compile SAMModel without `loss` then), else the
    compiled loss plus `model.losses`. A keras-hub task is fed through its
    own preprocessing in `fit`, `evaluate`, `predict` and `*_on_batch`. A
    model that overrides `train_step` is refused (`TypeError`): take the
    step inside it with `Variant.minimize`. When layers are frozen or
    unfrozen, the next `fit` rebuilds a fresh copy of the variant for the
    new trainable set (hyperparameters kept, statistics and caches
    restarted).

    Logged per step and averaged per epoch: `loss` and the compiled metrics
    from the clean pass, `sam_fraction` (share of steps that took a perturbed
    pass), `perturbation_norm` (mean `||offsets||` over perturbed passes
    with finite offsets; equals `rho` for SAM) and `skipped_steps` (steps of
    the epoch skipped because a gradient was not finite). `evaluate` and
    validation log what the wrapped model's would: loss and metrics.

    Args:
        model: the `keras.Model` to train (Sequential, Functional or
            subclassed; built or not).
        variant: a `keras_sam.variants.Variant`, a registered string (`"sam"`,
            `"asam"`, ...) or a config dict. Defaults to `"sam"`. An instance
            already serving another SAMModel is replaced by a fresh copy
            from its config.
        sync_perturbation: under `tf.distribute` (or `torch.distributed`),
            all-reduce the clean gradient before forming the perturbation,
            and every perturbed gradient the variant sees (global SAM: the
            step equals one device's on the global batch, caches included).
            The default `False` perturbs each replica with its own gradient
            (m-sharpness, as in the SAM paper). On JAX under a
            multi-device `keras.distribution` the step's gradients are
            global, and only `True` is allowed.
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
        if _overrides(model, "train_step"):
            raise TypeError(
                f"{type(model).__name__} overrides `train_step`: it trains in "
                "its own way, which SAMModel would replace with its step. "
                "Keep your `train_step` and take the sharpness-aware step "
                "inside it with `variant.minimize(loss_fn, model)` (a "
                "`keras_sam.variants` instance held by your model; on JAX, "
                "decorate the step with `@keras_sam.stateful_step`). "
                f"Received: model={model.name!r} of class "
                f"{type(model).__name__}."
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
        self.variant = binding.own(variants_lib.get(variant))
        self.sync_perturbation = sync_perturbation
        self.sam_fraction_tracker = keras.metrics.Mean(name="sam_fraction")
        self.perturbation_norm_tracker = keras.metrics.Mean(
            name="perturbation_norm"
        )
        self.skipped_steps_tracker = sam_step.StepCount(name="skipped_steps")
        if model.built:
            self.build()

    def build(self, input_shape=None):
        """Builds the wrapped model (for `input_shape`) and the variant.

        The variant is built for the wrapped model's trainable variables.
        Raises `ValueError` when the wrapped model has none.
        """
        if not self.model.built:
            self.model.build(input_shape)
            if not self.model.weights and input_shape is not None:
                # A subclassed model without `build` creates its weights in
                # its first call: call it on symbolic inputs.
                self.model(keras.tree.map_shape_structure(
                    keras.KerasTensor, input_shape
                ))
        if not self.model.trainable_variables:
            raise ValueError(
                f"The wrapped model {self.model.name!r} has no trainable "
                "weights, so there is nothing to train. Unfreeze some layers "
                "(`layer.trainable = True`) before wrapping it."
            )
        if not self.variant.built:
            binding.build(self.variant, self.model.trainable_variables)
        binding.record(self)
        self.built = True

    @property
    def output_names(self):
        """The wrapped model's output names (a Functional model's), which
        `compile` gives to per-output losses and metrics, so that the logs
        are named as the wrapped model's (`cls_loss`). Raises
        `AttributeError` where the wrapped model has none."""
        return self.model.output_names

    def call(self, inputs, training=None, mask=None):
        """The wrapped model's call: `SAMModel` predicts as the model does."""
        if mask is None:
            return self.model(inputs, training=training)
        return self.model(inputs, training=training, mask=mask)

    def train_step(self, *args):
        """One sharpness-aware step of the variant (the backend's step).

        Called by `fit` as Keras calls any `train_step`: with `data` on
        TensorFlow and PyTorch, with `(state, data)` on JAX. The backend
        prepares the step (tracing, JAX's pure step) around
        `keras_sam/sam_step.py`'s `step(model, data)`.
        """
        # TensorFlow and PyTorch pass `data`; JAX passes `state, data`.
        return backend.module().train_step(self, sam_step.step, *args)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        """The wrapped model's `compute_loss` if its class overrides it.

        Otherwise Keras's: the compiled loss plus `model.losses`. Used by
        every pass of the step and by `evaluate`.
        """
        if _overrides(self.model, "compute_loss"):
            if keras_private.compiled_loss(self) is not None:
                raise ValueError(
                    f"{type(self.model).__name__} overrides `compute_loss`, "
                    "which is the loss SAMModel trains with, so the `loss` "
                    "given to SAMModel.compile would be ignored. Compile "
                    "SAMModel without `loss` (set what your `compute_loss` "
                    "needs on the wrapped model). Received: loss="
                    f"{self.loss!r}"
                )
            return keras_private.compute_loss(
                self.model, x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                training=training,
            )
        return super().compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
            training=training,
        )

    # A keras-hub task's preprocessing (see `keras_sam/pipeline.py`) is
    # applied to the data of every entry point, as the task's own would.
    __call__ = pipeline.preprocessing("__call__")
    evaluate = _evaluating(pipeline.preprocessing("evaluate"))
    predict = pipeline.preprocessing("predict")
    test_on_batch = _evaluating(pipeline.preprocessing("test_on_batch"))
    predict_on_batch = pipeline.preprocessing("predict_on_batch")

    def train_on_batch(self, *args, **kwargs):
        binding.align(self)
        args, kwargs = pipeline.prepare(self.model, "train_on_batch", args, kwargs)
        return super().train_on_batch(*args, **kwargs)

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`, plus the callbacks the variant needs.

        A variant's callback is added only when `callbacks` holds none of its
        type (or a subclass), so a user may pass a configured one. Added
        callbacks run first, so that loggers among the user's callbacks see
        what they log.
        """
        binding.align(self)
        args, kwargs = pipeline.prepare(self.model, "fit", args, kwargs)
        bound = inspect.signature(keras.Model.fit).bind(self, *args, **kwargs)
        callbacks = list(bound.arguments.get("callbacks") or [])
        added = [
            callback
            for callback in self.variant.callbacks()
            if not any(isinstance(c, type(callback)) for c in callbacks)
        ]
        bound.arguments["callbacks"] = added + callbacks
        return super().fit(*bound.args[1:], **bound.kwargs)

    def get_metrics_result(self):
        """The metrics' results; in `evaluate`, as the wrapped model's.

        `sam_fraction`, `perturbation_norm` and `skipped_steps` mean nothing
        in `evaluate` or validation, which log loss and compiled metrics
        only. Outside them the step's own metrics are included, so that the
        keys match the train step's logs: only then does `fit` log the
        metrics' results at the end of an epoch rather than the last step's
        logs, which under `tf.distribute` are a mean of per-replica results
        (a weighted metric's per-replica ratios, not the global one).
        """
        results = super().get_metrics_result()
        if not getattr(self, "_in_evaluate", False):
            return results
        own = {m.name for m in self.sam_trackers()}
        return {name: value for name, value in results.items() if name not in own}

    def sam_trackers(self):
        """The step's own metrics: sam_fraction, perturbation_norm, skips."""
        return [
            self.sam_fraction_tracker,
            self.perturbation_norm_tracker,
            self.skipped_steps_tracker,
        ]

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


def _overrides(model, method):
    """Whether `model`'s class defines its own `method` (e.g. train_step)."""
    return getattr(type(model), method) is not getattr(keras.Model, method)
