"""Every registered variant's step compiles with XLA and is traced only once.

`SAMModel.train_step` runs as Python only while TensorFlow traces it, so a
counter incremented inside it counts traces. After the first `fit` (which
traces; `tf.function` may trace twice when the first trace creates the
optimizer's variables), further epochs, a second `fit` call and a changed
`rho` must not trace again.
"""

import keras
import numpy as np
import pytest

import keras_sam
from keras_sam import variants

pytestmark = pytest.mark.tensorflow_only


@pytest.fixture
def trace_counter(monkeypatch):
    counter = {"traces": 0}
    original = keras_sam.SAMModel.train_step

    def counted_train_step(self, data):
        counter["traces"] += 1
        return original(self, data)

    monkeypatch.setattr(keras_sam.SAMModel, "train_step", counted_train_step)
    return counter


def _dense():
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])


def _conv():
    return keras.Sequential([
        keras.Input((6, 1)), keras.layers.Conv1D(2, 3), keras.layers.Flatten(),
        keras.layers.Dense(3),
    ])


CONDITIONAL = [i for i, cls in sorted(variants.registered().items())
               if getattr(cls(), "policy", None) is not None]


@pytest.mark.parametrize("identifier, build", [
    *[(i, _dense) for i in sorted(variants.registered())],
    # XLA on CPU: both branches and a select (keras_sam.backend.common.select).
    *[(i, _conv) for i in CONDITIONAL],
])
def test_step_compiles_with_xla_and_does_not_retrace(identifier, build, trace_counter):
    rng = np.random.default_rng(0)
    inner = build()
    x = rng.normal(size=(32, *inner.input_shape[1:])).astype("float32")
    y = rng.integers(0, 3, size=32)
    model = keras_sam.SAMModel(inner, variant=identifier)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    before = [np.array(w) for w in inner.get_weights()]

    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    initial_traces = trace_counter["traces"]
    assert model.jit_compile is True  # Keras did not fall back to no XLA
    model.variant.rho.assign(0.5 * float(model.variant.rho.numpy()))
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0)

    assert 1 <= initial_traces <= 2
    assert trace_counter["traces"] == initial_traces
    assert int(model.optimizer.iterations.numpy()) == 16
    assert np.isfinite(history.history["loss"]).all()
    after = inner.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, after))
