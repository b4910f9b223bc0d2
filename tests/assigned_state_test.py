"""A SAMModel step assigns what a plain Keras step assigns, on every backend.

One step of plain `fit` and one `SAMModel` step, from the same weights,
state and random state, on a model with all the state a pass may assign:
BatchNorm statistics, seeded and unseeded dropout (PyTorch draws the
latter's masks from its global generator), per-output loss trackers of a
two-output model and, on TensorFlow (the backend where Keras trains a
stateful RNN; `tests/stateful_rnn_test.py` covers the others), the hidden
state of a `GRU(stateful=True)`, which Keras keeps in variables no model
lists. Everything either step assigns is compared: the model's variables,
the RNN state, the optimizer's variables, every metric and PyTorch's global
generator.

- `test_step_assigns_what_keras_assigns`: per variant, every variable is
  assigned by SAMModel exactly when Keras assigns it; state and metrics
  take the clean pass's values (for MSAM, whose only pass is at a
  perturbed point, they are assigned, with other values).
- `test_perturbed_pass_reads_the_clean_pass_state`: with a vanishing
  radius SAM's step is plain SGD's, so its weights equal Keras's only if
  the perturbed pass drew the clean pass's masks and read the RNN state,
  BatchNorm statistics and seeds from before the clean pass.
"""

import keras
import numpy as np
import pytest

import keras_sam
from keras_sam import variants

BATCH = 8
STATEFUL = keras.backend.backend() == "tensorflow"


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, 5, 3)).astype("float32")
    y = (rng.integers(0, 3, BATCH), rng.normal(size=(BATCH, 1)).astype("float32"))
    return x, y


def _model(stateful=STATEFUL):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5, 3), batch_size=BATCH)
    h = keras.layers.GRU(6, stateful=stateful)(inputs)
    h = keras.layers.Dense(8, activation="relu")(h)
    h = keras.layers.BatchNormalization(momentum=0.5)(h)
    h = keras.layers.Dropout(0.3)(h)  # unseeded
    h = keras.layers.Dropout(0.2, seed=1)(h)
    outputs = [keras.layers.Dense(3, name="cls")(h), keras.layers.Dense(1, name="reg")(h)]
    return keras.Model(inputs, outputs)


def _copy(model):
    twin = keras.models.clone_model(model)
    for target, source in zip(twin.variables, model.variables):
        target.assign(np.array(source.numpy()))
    return twin


def _compile(model):
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss=[keras.losses.SparseCategoricalCrossentropy(from_logits=True), "mse"],
        metrics=[["accuracy"], []],
    )


def _rnn_states(model):
    return [v for layer in model.layers for v in (getattr(layer, "states", None) or [])]


def _global_generator():
    if keras.backend.backend() != "torch":
        return None
    import torch

    return torch.get_rng_state().numpy().copy()


def _seed_global_generator():
    if keras.backend.backend() == "torch":
        import torch

        torch.manual_seed(3)


def _snapshot(trainer, inner):
    """Everything a step may assign, by kind, as NumPy arrays."""
    own = {id(v) for m in getattr(trainer, "sam_trackers", list)() for v in m.variables}
    metrics = {
        m.name: [np.array(v.numpy()) for v in m.variables if id(v) not in own]
        for m in trainer.metrics
    }
    return {
        "weights": [np.array(v.numpy()) for v in inner.trainable_variables],
        "state": [np.array(v.numpy()) for v in inner.non_trainable_variables],
        "rnn": [np.array(keras.ops.convert_to_numpy(v)) for v in _rnn_states(inner)],
        "optimizer": [np.array(v.numpy()) for v in trainer.optimizer.variables],
        "metrics": {k: v for k, v in metrics.items() if v},
        "generator": _global_generator(),
    }


def _one_step(trainer, inner):
    x, y = _data()
    _seed_global_generator()
    before = _snapshot(trainer, inner)
    trainer.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    return before, _snapshot(trainer, inner)


def _flat(snapshot, kind):
    value = snapshot[kind]
    if kind == "metrics":
        return [a for name in sorted(value) for a in value[name]]
    if kind == "generator":
        return [] if value is None else [value]
    return value


def _changed(before, after, kind):
    return [not np.array_equal(a, b) for a, b in zip(_flat(before, kind), _flat(after, kind))]


def _plain_and_sam(variant, stateful=STATEFUL):
    plain_inner = _model(stateful)
    sam_inner = _copy(plain_inner)
    _compile(plain_inner)
    sam = keras_sam.SAMModel(sam_inner, variant=variant)
    _compile(sam)
    return _one_step(plain_inner, plain_inner), _one_step(sam, sam_inner)


KINDS = ("weights", "state", "rnn", "optimizer", "metrics", "generator")


@pytest.mark.parametrize("variant_id", sorted(variants.registered()))
def test_step_assigns_what_keras_assigns(variant_id):
    # ESAM's final pass on some rows cannot run a stateful RNN (refused in
    # tests/stateful_rnn_test.py).
    stateful = STATEFUL and variant_id != "esam"
    (plain_before, plain_after), (sam_before, sam_after) = _plain_and_sam(
        variant_id, stateful
    )
    assert sorted(plain_after["metrics"]) == sorted(sam_after["metrics"])
    for kind in KINDS:
        assert _changed(sam_before, sam_after, kind) == _changed(
            plain_before, plain_after, kind
        ), f"{variant_id}: SAMModel assigned other {kind} than Keras"
    assert any(_changed(plain_before, plain_after, "rnn")) == stateful
    assert all(_changed(plain_before, plain_after, "metrics"))
    clean_state = ("state", "rnn", "metrics", "generator")
    if variant_id == "msam":
        clean_state = ("generator",)  # MSAM's only pass is at w + offsets.
    for kind in clean_state:
        for actual, expected in zip(_flat(sam_after, kind), _flat(plain_after, kind)):
            np.testing.assert_allclose(
                actual, expected, rtol=1e-5, atol=1e-6,
                err_msg=f"{variant_id}: {kind} is not the clean pass's",
            )


def test_perturbed_pass_reads_the_clean_pass_state():
    (_, plain_after), (_, sam_after) = _plain_and_sam(variants.SAM(rho=1e-7))
    for actual, expected in zip(sam_after["weights"], plain_after["weights"]):
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)
