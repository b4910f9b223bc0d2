"""Flatness of trained weights: worst-case sharpness and the top Hessian eigenvalue.

Both are measured on one fixed batch, in inference mode (`training=False`,
so dropout is off and BatchNorm uses its moving statistics), without ever
changing a weight: perturbed losses are evaluated in a `keras.StatelessScope`.

- `sharpness`: `L(w + rho * g / ||g||) - L(w)` with `g = grad L(w)`, the
  first-order worst case inside the L2 ball of radius `rho` (the quantity SAM
  minimizes). For a quadratic it equals `rho * ||g|| + rho**2/2 * u'Hu` with
  `u = g / ||g||`.
- `top_hessian_eigenvalue`: the eigenvalue of largest magnitude of the
  Hessian of `L` at `w`, by power iteration on Hessian-vector products
  computed with nested `tf.GradientTape`s (the PyHessian method).
"""

import keras
import numpy as np
import tensorflow as tf


def _loss(model, loss_fn, x, y):
    return tf.cast(loss_fn(y, model(x, training=False)), tf.float32)


def _dot(a, b):
    return tf.add_n([tf.reduce_sum(tf.cast(p, tf.float32) * tf.cast(q, tf.float32)) for p, q in zip(a, b)])


def _norm(tensors):
    return tf.sqrt(_dot(tensors, tensors))


def sharpness(model, loss_fn, x, y, rho=0.05):
    """Loss increase at the worst-case first-order perturbation of radius `rho`.

    Args:
        model: a built `keras.Model`.
        loss_fn: `loss_fn(y_true, y_pred) -> scalar`, e.g. a `keras.losses`
            instance.
        x, y: the fixed batch.
        rho: radius of the perturbation, > 0.

    Returns:
        A Python float, `L(w + rho * g/||g||) - L(w)` (0.0 where `g = 0`).
    """
    if not rho > 0:
        raise ValueError(f"Argument `rho` must be > 0. Received: rho={rho!r}")
    variables = model.trainable_variables
    x = tf.convert_to_tensor(x)
    y = tf.convert_to_tensor(y)
    with tf.GradientTape() as tape:
        loss = _loss(model, loss_fn, x, y)
    gradients = [
        tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
        for g, v in zip(tape.gradient(loss, variables), variables)
    ]
    norm = _norm(gradients)
    if float(norm) == 0.0:
        return 0.0
    scale = rho / norm
    mapping = [
        (v, v.value + tf.cast(g * tf.cast(scale, g.dtype), v.dtype))
        for v, g in zip(variables, gradients)
    ]
    with keras.StatelessScope(state_mapping=mapping):
        perturbed = _loss(model, loss_fn, x, y)
    return float(perturbed - loss)


def hessian_vector_product_fn(model, loss_fn, x, y):
    """Returns a compiled `hvp(vectors) -> H @ vectors` at the current weights.

    `vectors` is a list shaped like `model.trainable_variables`.
    """
    variables = model.trainable_variables
    x = tf.convert_to_tensor(x)
    y = tf.convert_to_tensor(y)

    @tf.function
    def hvp(vectors):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                loss = _loss(model, loss_fn, x, y)
            gradients = inner.gradient(loss, variables)
            projection = _dot(
                [tf.zeros_like(v) if g is None else g for g, v in zip(gradients, variables)],
                vectors,
            )
        products = outer.gradient(projection, variables)
        return [
            tf.zeros_like(v, tf.float32) if p is None else tf.cast(tf.convert_to_tensor(p), tf.float32)
            for p, v in zip(products, variables)
        ]

    return hvp


def top_hessian_eigenvalue(model, loss_fn, x, y, iterations=20, tolerance=1e-3, seed=0):
    """The Hessian eigenvalue of largest magnitude, by power iteration.

    Starts from a seeded random unit vector; each iteration costs one
    Hessian-vector product (about two backward passes). Stops after
    `iterations` or when the Rayleigh quotient changes by less than
    `tolerance` (relative).

    Args:
        model, loss_fn, x, y: as in `sharpness`.
        iterations: maximum number of power iterations, >= 1.
        tolerance: relative change of the estimate that stops the iteration.
        seed: seed of the start vector.

    Returns:
        A Python float, the Rayleigh quotient `v'Hv` of the last unit `v`.
    """
    if iterations < 1:
        raise ValueError(f"Argument `iterations` must be >= 1. Received: {iterations!r}")
    hvp = hessian_vector_product_fn(model, loss_fn, x, y)
    rng = np.random.default_rng(seed)
    vectors = [
        tf.constant(rng.standard_normal(tuple(v.shape)), tf.float32)
        for v in model.trainable_variables
    ]
    norm = _norm(vectors)
    vectors = [v / norm for v in vectors]
    estimate = None
    for _ in range(iterations):
        products = hvp(vectors)
        value = float(_dot(vectors, products))
        norm = _norm(products)
        if float(norm) == 0.0:
            return 0.0
        vectors = [p / norm for p in products]
        if estimate is not None and abs(value - estimate) <= tolerance * abs(estimate):
            return value
        estimate = value
    return estimate
