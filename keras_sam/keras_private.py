"""The private Keras names keras_sam relies on, all in this one place.

Keras 3 has no public API for what these do; each is used as Keras's own
trainer uses it. If a Keras release moves one, this is the file to change,
and the tests named beside each fail first.

- `Trainer._loss_tracker`: the "loss" metric Keras's own train steps update
  (`tests/logs_test.py`).
- `Trainer._compute_loss`: `compute_loss` called with the arguments the
  model's own override accepts (`tests/custom_loss_test.py`).
- `Trainer._compile_loss`: the loss given to `compile`, `None` without one
  (`tests/custom_loss_test.py`).
- `Layer._flatten_layers`: every layer nested in a model
  (`tests/stateful_rnn_test.py`).
- `Layer._tracker`: swapping a sublayer of a built layer
  (`tests/fine_tuning_test.py`).

`keras_sam.distribution.enable_multi_worker_fit` patches two more, on
purpose and only when called (see `keras_sam/multi_worker.py`).
"""


def update_loss_metric(model, loss, batch_size):
    """Updates `model`'s "loss" metric as Keras's train steps do: the step's
    loss weighted by the batch size."""
    model._loss_tracker.update_state(loss, sample_weight=batch_size)


def compute_loss(model, **kwargs):
    """`model.compute_loss(**kwargs)`, with Keras's argument handling."""
    return model._compute_loss(**kwargs)


def compiled_loss(model):
    """The loss given to `model.compile`, or `None`."""
    return model._compile_loss


def flatten_layers(model):
    """`model` and every layer nested in it."""
    return model._flatten_layers()


def layer_tracker(layer):
    """The tracker that owns a layer's sublayers and variables."""
    return layer._tracker
