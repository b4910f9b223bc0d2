"""SAM inside your own train step: `Variant.minimize` + `stateful_step`.

Runs on every backend (CI runs this module on TensorFlow, JAX and PyTorch).
"""

import keras
import numpy as np
import pytest

import keras_sam
from keras_sam import variants
from tests import models


class SAMClassifier(keras.Model):
    """A model with its own train step that takes the variant's step."""

    def __init__(self, net, variant, **kwargs):
        super().__init__(**kwargs)
        self.net = net
        self.sam = variant
        self.sam.build([v.shape for v in net.trainable_variables])
        self.sam_fraction = keras.metrics.Mean(name="sam_fraction")

    def call(self, x, training=False):
        return self.net(x, training=training)

    @keras_sam.stateful_step
    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)

        def loss_fn():
            y_pred = self(x, training=True)
            return self.compute_loss(x, y, y_pred, sample_weight), y_pred

        result = self.sam.minimize(loss_fn, self)
        self.sam_fraction.update_state(result.perturbed)
        return self.compute_metrics(x, y, result.aux, sample_weight)


def _copy(net):
    clone = keras.models.clone_model(net)
    for target, source in zip(clone.variables, net.variables):
        target.assign(np.array(source.numpy()))
    return clone


def _data(steps=4, batch=16):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps * batch, 12)).astype("float32")
    return x, rng.integers(0, 4, size=steps * batch)


@pytest.mark.parametrize(
    "variant",
    [variants.SAM(rho=0.1), variants.LookSAM(k=2, alpha=0.5),
     variants.WSAM(gamma=0.8), variants.GASAM(num_ascent_steps=2),
     variants.GAM()],
    ids=lambda v: v.name,
)
def test_custom_step_equals_sam_model(variant):
    x, y = _data()
    net = models.bn_dropout_mlp()
    twin = _copy(net)
    wrapped = keras_sam.SAMModel(net, variant=variant.from_config(variant.get_config()))
    custom = SAMClassifier(twin, variant)
    for model in (wrapped, custom):
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                      loss=models.sparse_ce(), metrics=["accuracy"])
    wrapped_logs = wrapped.fit(x, y, batch_size=16, shuffle=False, verbose=0).history
    custom_logs = custom.fit(x, y, batch_size=16, shuffle=False, verbose=0).history
    for a, b in zip(net.variables, twin.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    for a, b in zip(wrapped.variant.state_variables(), custom.sam.state_variables()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    for key in ("accuracy", "sam_fraction"):
        np.testing.assert_allclose(custom_logs[key], wrapped_logs[key], rtol=1e-6)


def test_non_finite_step_changes_nothing_and_reports_it():
    x, y = _data(steps=1)
    net = models.bn_dropout_mlp()
    model = SAMClassifier(net, variants.SAM())
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=models.sparse_ce())
    before = [np.array(v.numpy()) for v in net.trainable_variables]
    state = [np.array(v.numpy()) for v in net.layers[1].variables]
    x[3, 2] = np.nan
    model.fit(x, y, batch_size=16, verbose=0)
    for b, v in zip(before, net.trainable_variables):
        np.testing.assert_array_equal(v.numpy(), b)
    for b, v in zip(state, net.layers[1].variables):  # BatchNorm statistics
        np.testing.assert_array_equal(v.numpy(), b)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 0


def test_unbuilt_variant_is_a_clear_error():
    class Unbuilt(SAMClassifier):
        def __init__(self, net, variant):
            keras.Model.__init__(self)
            self.net, self.sam = net, variant

    model = Unbuilt(models.bn_dropout_mlp(), variants.SAM())
    model.compile(optimizer="sgd", loss=models.sparse_ce())
    x, y = _data(steps=1)
    with pytest.raises(ValueError, match=r"must be built.*variant.build"):
        model.fit(x, y, verbose=0)


def test_minimize_needs_an_optimizer():
    net = models.bn_dropout_mlp()
    variant = variants.SAM()
    variant.build([v.shape for v in net.trainable_variables])
    with pytest.raises(ValueError, match="`optimizer`.*Received: optimizer=None"):
        variant.minimize(lambda: 0.0, net)


def test_a_loss_fn_returning_three_values_is_refused_and_changes_nothing():
    net = models.bn_dropout_mlp()
    variant = variants.SAM()
    variant.build([v.shape for v in net.trainable_variables])
    optimizer = keras.optimizers.SGD(0.1)
    optimizer.build(net.trainable_variables)
    before = [np.array(v.numpy()) for v in net.trainable_variables]
    x, y = _data(steps=1)

    def loss_fn():
        y_pred = net(x, training=True)
        return models.sparse_ce()(y, y_pred), y_pred, 1.0

    if keras.backend.backend() == "jax":
        pytest.skip("on JAX minimize runs inside a stateful_step only")
    with pytest.raises(ValueError, match=r"`loss_fn` must return.*tuple of 3"):
        variant.minimize(loss_fn, net, optimizer)
    for b, v in zip(before, net.trainable_variables):
        np.testing.assert_array_equal(v.numpy(), b)
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 0


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's pure steps")
def test_on_jax_minimize_outside_a_stateful_step_names_the_decorator():
    net = models.bn_dropout_mlp()
    variant = variants.SAM()
    variant.build([v.shape for v in net.trainable_variables])
    with pytest.raises(RuntimeError, match="keras_sam.stateful_step"):
        variant.minimize(lambda: 0.0, net, keras.optimizers.SGD(0.1))
