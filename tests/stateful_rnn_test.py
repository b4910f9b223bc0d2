"""Stateful RNNs: SAM's formula on the hidden state of the clean pass.

A `GRU(stateful=True)` keeps its hidden state in variables Keras creates
untracked. SAM's step on such a model starts the clean pass and the
perturbed pass from the same hidden state `h` (the state before the step)
and leaves the state the clean pass reached. The reference below runs each
pass itself under `keras.StatelessScope`, reading the new hidden state from
the scope, with the backend's own autodiff (TensorFlow, PyTorch). On JAX,
whose trainer drops a stateful RNN's state in a plain `fit` too, SAMModel
refuses the model; ESAM, whose final pass takes some rows of the batch,
refuses a stateful layer on every backend.
"""

import keras
import numpy as np
import pytest

import keras_sam
from keras_sam import variants
from tests import reference

BATCH, STEPS, RHO, LR = 4, 3, 0.1, 0.1
BACKEND = keras.backend.backend()


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH * STEPS, 5, 3)).astype("float32")
    return x, rng.normal(size=(BATCH * STEPS, 2)).astype("float32")


def _model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5, 3), batch_size=BATCH)
    gru = keras.layers.GRU(6, stateful=True)
    return keras.Model(inputs, keras.layers.Dense(2)(gru(inputs))), gru


def _loss_gradients_state(model, state, weights, hidden, x, y):
    """Loss gradients at `weights` from hidden state `hidden`, new state."""
    variables = model.trainable_variables

    def loss_and_state(tensors):
        mapping = list(zip(variables, tensors)) + [(state, hidden)]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            y_pred = model(x, training=True)
            loss = keras.ops.mean(keras.ops.square(y_pred - keras.ops.convert_to_tensor(y)))
        return loss, scope.get_current_value(state)

    if BACKEND == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(w, tf.float32) for w in weights]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            loss, new_state = loss_and_state(tensors)
        gradients = tape.gradient(loss, tensors)
        return [g.numpy() for g in gradients], np.array(new_state)
    import torch

    tensors = [
        torch.tensor(np.asarray(w, np.float32), requires_grad=True) for w in weights
    ]
    loss, new_state = loss_and_state(tensors)
    gradients = torch.autograd.grad(loss, tensors)
    return [g.numpy() for g in gradients], new_state.detach().numpy()


def _reference_sam(model, gru, x, y):
    """SAM with plain SGD over the batches, in order; `(weights, state)`."""
    weights = [np.array(v.numpy()) for v in model.trainable_variables]
    hidden = np.array(keras.ops.convert_to_numpy(gru.states[0]))
    for start in range(0, len(x), BATCH):
        xb, yb = x[start:start + BATCH], y[start:start + BATCH]
        clean, after = _loss_gradients_state(model, gru.states[0], weights, hidden, xb, yb)
        offsets = reference.sam_offsets(clean, RHO)
        perturbed, _ = _loss_gradients_state(
            model, gru.states[0], [w + o for w, o in zip(weights, offsets)],
            hidden, xb, yb,
        )
        weights = [w - LR * g for w, g in zip(weights, perturbed)]
        hidden = after
    return weights, hidden


def _sam_model(variant="sam"):
    inner, gru = _model()
    model = keras_sam.SAMModel(inner, variant=variant)
    model.compile(optimizer=keras.optimizers.SGD(LR), loss="mse")
    return model, inner, gru


@pytest.mark.skipif(BACKEND == "jax", reason="JAX: refused (test below)")
def test_sam_on_a_stateful_gru_matches_the_formula():
    x, y = _data()
    model, inner, gru = _sam_model(variants.SAM(rho=RHO))
    twin, twin_gru = _model()
    expected_weights, expected_state = _reference_sam(twin, twin_gru, x, y)
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    reference.assert_weights_close(
        [v.numpy() for v in inner.trainable_variables], expected_weights
    )
    state = keras.ops.convert_to_numpy(gru.states[0])
    assert np.abs(state).sum() > 0
    np.testing.assert_allclose(state, expected_state, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(BACKEND != "jax", reason="the JAX trainer's limit")
def test_jax_refuses_a_stateful_rnn():
    x, y = _data()
    model = _sam_model()[0]
    with pytest.raises(ValueError, match="A stateful RNN"):
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)


def test_esam_refuses_a_stateful_layer():
    x, y = _data()
    model = _sam_model("esam")[0]
    with pytest.raises(ValueError, match=r"stateful layers \['gru"):
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
