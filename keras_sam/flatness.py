"""Flatness of trained weights: worst-case sharpness and the top Hessian eigenvalue.

Both are measured on one fixed batch, in inference mode (`training=False`,
so dropout is off and BatchNorm uses its moving statistics), without ever
changing a weight: perturbed losses are evaluated in a `keras.StatelessScope`.

- `sharpness`: `L(w + rho * g / ||g||) - L(w)` with `g = grad L(w)`, the
  first-order worst case inside the L2 ball of radius `rho` (the quantity SAM
  minimizes). For a quadratic it equals `rho * ||g|| + rho**2/2 * u'Hu` with
  `u = g / ||g||`.
- `top_hessian_eigenvalue`: the eigenvalue of largest magnitude of the
  Hessian of `L` at `w`, by power iteration on exact Hessian-vector products
  (the PyHessian method), from the backend's own autodiff (`autodiff.py`).
"""

import numpy as np

from keras_sam.autodiff import Derivatives


def _dot(a, b):
    return float(sum(np.sum(p * q) for p, q in zip(a, b)))


def _norm(arrays):
    return np.sqrt(_dot(arrays, arrays))


def _weights(model):
    return [np.asarray(v.numpy(), np.float32) for v in model.trainable_variables]


def sharpness(model, loss_fn, x, y, rho=0.05):
    """Loss increase at the worst-case first-order perturbation of radius `rho`.

    Args:
        model: a built `keras.Model`.
        loss_fn: `loss_fn(y_true, y_pred) -> scalar`, e.g. a `keras.losses`
            instance.
        x: the inputs of the fixed batch.
        y: its targets.
        rho: radius of the perturbation, > 0.

    Returns:
        A Python float, `L(w + rho * g/||g||) - L(w)` (0.0 where `g = 0`).
    """
    if not rho > 0:
        raise ValueError(f"Argument `rho` must be > 0. Received: rho={rho!r}")
    derivatives = Derivatives(model, loss_fn, x, y)
    weights = _weights(model)
    gradients = derivatives.gradient(weights)
    norm = _norm(gradients)
    if norm == 0.0:
        return 0.0
    perturbed = [w + rho * g / norm for w, g in zip(weights, gradients)]
    return derivatives.loss(perturbed) - derivatives.loss(weights)


def top_hessian_eigenvalue(model, loss_fn, x, y, iterations=20, tolerance=1e-3, seed=0):
    """The Hessian eigenvalue of largest magnitude, by power iteration.

    Starts from a seeded random unit vector; each iteration costs one
    Hessian-vector product (about two backward passes). Stops after
    `iterations` or when the Rayleigh quotient changes by less than
    `tolerance` (relative).

    Args:
        model: a built `keras.Model`, as in `sharpness`.
        loss_fn: `loss_fn(y_true, y_pred) -> scalar`, as in `sharpness`.
        x: the inputs of the fixed batch.
        y: its targets.
        iterations: maximum number of power iterations, >= 1.
        tolerance: relative change of the estimate that stops the iteration.
        seed: seed of the start vector.

    Returns:
        A Python float, the Rayleigh quotient `v'Hv` of the last unit `v`.
    """
    if iterations < 1:
        raise ValueError(f"Argument `iterations` must be >= 1. Received: {iterations!r}")
    derivatives = Derivatives(model, loss_fn, x, y)
    weights = _weights(model)
    rng = np.random.default_rng(seed)
    vectors = [rng.standard_normal(w.shape) for w in weights]
    norm = _norm(vectors)
    vectors = [v / norm for v in vectors]
    estimate = None
    for _ in range(iterations):
        products = derivatives.hvp(weights, vectors)
        value = _dot(vectors, products)
        norm = _norm(products)
        if norm == 0.0:
            return 0.0
        vectors = [p / norm for p in products]
        if estimate is not None and abs(value - estimate) <= tolerance * abs(estimate):
            return value
        estimate = value
    return estimate
