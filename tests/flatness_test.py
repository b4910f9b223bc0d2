"""Flatness measures against closed forms on linear least squares.

For `model(x) = x @ w` and `L(w) = mean((x @ w - y)**2)`, the Hessian is
`H = 2/N * X'X` everywhere, and for the unit gradient direction `u`,
`L(w + rho*u) - L(w) = rho*||g|| + rho**2/2 * u'Hu` exactly.
"""

import keras
import numpy as np
import pytest

from keras_sam import flatness


def _problem(scale=1.0, seed=0, n=64):
    rng = np.random.default_rng(seed)
    # Singular values 3, 2, 1, 0.5, 0.25: well separated top eigenvalue.
    u, _ = np.linalg.qr(rng.normal(size=(n, 5)))
    v, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    x = (u * np.array([3.0, 2.0, 1.0, 0.5, 0.25])) @ v.T * np.sqrt(n) * scale
    y = rng.normal(size=(n, 1))
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1, use_bias=False)])
    w = rng.normal(size=(5, 1))
    model.layers[0].kernel.assign(w)
    return model, x.astype("float32"), y.astype("float32"), w


def _analytic(x, y, w, rho):
    x, y, w = (a.astype(np.float64) for a in (x, y, w))
    n = len(x)
    hessian = 2.0 / n * x.T @ x
    gradient = 2.0 / n * x.T @ (x @ w - y)
    unit = gradient / np.linalg.norm(gradient)
    sharp = rho * np.linalg.norm(gradient) + rho**2 / 2 * (unit.T @ hessian @ unit).item()
    return sharp, np.linalg.eigvalsh(hessian).max()


def test_top_hessian_eigenvalue_of_least_squares_is_analytic():
    model, x, y, w = _problem()
    _, expected = _analytic(x, y, w, 0.05)
    assert expected == pytest.approx(18.0, rel=1e-4)  # 2 * 3**2
    value = flatness.top_hessian_eigenvalue(
        model, keras.losses.MeanSquaredError(), x, y, iterations=100, tolerance=1e-7
    )
    assert value == pytest.approx(expected, rel=1e-3)


def test_sharpness_of_least_squares_is_analytic():
    model, x, y, w = _problem()
    expected, _ = _analytic(x, y, w, 0.05)
    value = flatness.sharpness(model, keras.losses.MeanSquaredError(), x, y, rho=0.05)
    assert value == pytest.approx(expected, rel=1e-3)


def test_sharper_quadratic_measures_sharper():
    loss = keras.losses.MeanSquaredError()
    results = []
    for scale in (1.0, 3.0):
        model, x, y, _ = _problem(scale=scale)
        model.layers[0].kernel.assign(np.zeros((5, 1)))  # same point, same targets
        results.append((
            flatness.sharpness(model, loss, x, y, rho=0.05),
            flatness.top_hessian_eigenvalue(model, loss, x, y, iterations=100, tolerance=1e-7),
        ))
    (flat_sharpness, flat_eigen), (sharp_sharpness, sharp_eigen) = results
    assert sharp_sharpness > flat_sharpness
    assert sharp_eigen == pytest.approx(9.0 * flat_eigen, rel=1e-3)


def test_measures_leave_the_weights_unchanged():
    model = keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(8, activation="tanh"),
        keras.layers.BatchNormalization(), keras.layers.Dense(3),
    ])
    x = np.random.default_rng(0).normal(size=(32, 6)).astype("float32")
    y = np.arange(32) % 3
    before = [v.numpy().copy() for v in model.variables]
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert flatness.sharpness(model, loss, x, y) > 0.0
    assert np.isfinite(flatness.top_hessian_eigenvalue(model, loss, x, y, iterations=5))
    for expected, variable in zip(before, model.variables):
        np.testing.assert_array_equal(variable.numpy(), expected)


def test_rejects_bad_arguments():
    model, x, y, _ = _problem()
    with pytest.raises(ValueError, match="rho"):
        flatness.sharpness(model, keras.losses.MeanSquaredError(), x, y, rho=0.0)
    with pytest.raises(ValueError, match="iterations"):
        flatness.top_hessian_eigenvalue(model, keras.losses.MeanSquaredError(), x, y, iterations=0)
