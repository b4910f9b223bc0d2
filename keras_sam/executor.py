"""What the algorithms (variants, policies) need from the step that runs them.

The algorithms sit below the executor (`keras_sam.backend`,
`keras_sam.custom_step`) and do not import it; the executor installs its
functions here when `keras_sam` is imported (`keras_sam/__init__.py`):

- `cond(pred, true_fn, false_fn)`: a conditional whose branches may assign
  variables, on every backend (`keras_sam.backend.cond`);
- `mean_over_replicas(values)`: the all-reduced mean across replicas;
- `minimize(variant, loss_fn, model, optimizer)`: a variant's step inside a
  user's own train step (`Variant.minimize`).
"""

_INSTALLED = {}


def install(**functions):
    """Installs the executor's functions (done by `keras_sam/__init__.py`)."""
    _INSTALLED.update(functions)


def _installed(name):
    if name not in _INSTALLED:
        raise RuntimeError(
            f"keras_sam's step is not installed (no `{name}`): import "
            "`keras_sam` (its `__init__` installs it) before using a variant."
        )
    return _INSTALLED[name]


def cond(pred, true_fn, false_fn):
    """`ops.cond` whose branches may assign variables, on every backend."""
    return _installed("cond")(pred, true_fn, false_fn)


def mean_over_replicas(values):
    """The mean over replicas of a tensor or a list of tensors."""
    return _installed("mean_over_replicas")(values)


def minimize(variant, loss_fn, model, optimizer=None):
    """`variant`'s step inside a user's own train step."""
    return _installed("minimize")(variant, loss_fn, model, optimizer)
