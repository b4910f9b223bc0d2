"""Which variant a `SAMModel` holds: one of its own, built for its variables."""

from keras_sam import keras_private


def own(variant):
    """`variant`, or a fresh copy from its config if a SAMModel holds it.

    A variant's state is built for one model's variables, so a second
    SAMModel (a seed loop, a tuner's `build_model`) gets its own copy.
    """
    if getattr(variant, "_keras_sam_owned", False):
        variant = type(variant).from_config(variant.get_config())
    variant._keras_sam_owned = True
    return variant


def build(variant, variables):
    """Builds `variant` for `variables`, telling it their paths first.

    Hooks see values, not variables (JAX), so a variant that treats some
    variables differently by name (ASAM's `scale_biases=False`) reads
    `variant.variable_paths`, set here for every variant.
    """
    variant.variable_paths = [v.path for v in variables]
    variant.build([v.shape for v in variables])


def record(model):
    """Notes the trainable variables `model.variant` was built for."""
    model._variant_variables = [id(v) for v in model.model.trainable_variables]


def align(model):
    """Rebuilds `model.variant` if the trainable variables changed.

    The variant's per-variable state belongs to the variables it was built
    for. After layers are frozen or unfrozen, a fresh copy (same config and
    hyperparameter values) is built for the new set: its running statistics
    and caches start again, as the new optimizer's slots do when Keras asks
    for recompiling.
    """
    if not model.built:
        return
    current = [id(v) for v in model.model.trainable_variables]
    if current == model._variant_variables:
        return
    if not current:
        model.build()  # The clear error for a fully frozen model.
    old = model.variant
    fresh = type(old).from_config(old.get_config())
    build(fresh, model.model.trainable_variables)
    for a, b in zip(old.hyperparameters(), fresh.hyperparameters()):
        b.assign(a)
    _replace_sublayer(model, "variant", old, own(fresh))
    model._variant_variables = current
    model.train_function = None  # Traced with the old variables.


def _replace_sublayer(layer, name, old, new):
    """Sets `layer.<name> = new` in place of `old` on a built layer.

    Keras locks a built layer's state; its tracker (private, see
    `keras_sam/keras_private.py`) is the only way to swap a sublayer and
    drop the old one's variables. Tested by `tests/fine_tuning_test.py`.
    """
    tracker = keras_private.layer_tracker(layer)
    locked = tracker.locked
    tracker.unlock()
    try:
        tracker.untrack(old)
        setattr(layer, name, new)
    finally:
        if locked:
            tracker.lock()
