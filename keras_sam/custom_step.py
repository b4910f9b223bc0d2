"""`Variant.minimize`: a variant's step inside a user's own train step."""

import collections

from keras_sam import backend

StepResult = collections.namedtuple(
    "StepResult", ["loss", "aux", "perturbed", "finite"]
)
StepResult.__doc__ = """What `Variant.minimize` returns.

`loss` and `aux`: the clean pass's loss and auxiliary outputs (`None` if the
loss closure returned only a loss); `perturbed`: 1.0 when the step took a
perturbed pass, else 0.0; `finite`: a boolean tensor, False when the step
was skipped for a non-finite gradient (nothing but the dropout seeds and a
`LossScaleOptimizer`'s scale changed)."""


def minimize(variant, loss_fn, model, optimizer=None):
    """The shared step of every backend on `model`'s variables."""
    if optimizer is None:
        optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise ValueError(
            "Argument `optimizer` is needed when `model` has none (compile "
            "the model or pass the optimizer). Received: optimizer=None"
        )
    _check_built_for(variant, model.trainable_variables)
    spec = backend.common.StepSpec(
        variant, loss_fn, lambda: model.trainable_variables, optimizer,
        metric_variables=lambda: getattr(model, "metrics_variables", []),
    )
    return StepResult(*backend.minimize(spec))


def _check_built_for(variant, variables):
    shapes = [tuple(v.shape) for v in variables]
    built = None
    if variant.built:
        built = variant.get_build_config().get("input_shape")
        built = [tuple(s) for s in built] if built is not None else None
    if built != shapes:
        raise ValueError(
            f"{type(variant).__name__} must be built for the variables it "
            f"trains ({len(shapes)} trainable variables): call "
            "`variant.build([v.shape for v in model.trainable_variables])` "
            "before training, and again with a fresh variant after layers "
            "are frozen or unfrozen. Received: built="
            f"{variant.built} for {'no' if built is None else len(built)} "
            "variables."
        )
