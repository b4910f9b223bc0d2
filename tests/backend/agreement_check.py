"""Run as a script under one KERAS_BACKEND: trains every variant, saves numbers.

`python tests/backend/agreement_check.py OUT.npz` builds the same model from
NumPy-drawn weights (no backend RNG: no dropout, no Keras initializer), fits
it with every registered variant on the same batches and writes the final
weights, BatchNorm statistics and logs to OUT.npz. On JAX, TensorFlow is made
unimportable first: the JAX path must not need it.
"""

import os
import sys

if os.environ.get("KERAS_BACKEND") == "jax":
    sys.modules["tensorflow"] = None  # `import tensorflow` now raises.

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_sam  # noqa: E402
from keras_sam import variants  # noqa: E402

STEPS, BATCH = 6, 16


def model():
    inner = keras.Sequential([
        keras.Input((12,)),
        keras.layers.Dense(16, activation="tanh"),
        keras.layers.BatchNormalization(momentum=0.5),
        keras.layers.Dense(4),
    ])
    rng = np.random.default_rng(0)
    inner.set_weights([
        rng.normal(scale=0.5, size=w.shape).astype("float32")
        if w.ndim == 2 else np.asarray(w)
        for w in inner.get_weights()
    ])
    return inner


# ESAM draws its perturbed variables from a Keras RNG, whose numbers differ
# between backends for the same seed: with beta=1 every variable takes
# part, and the rest of its step (the data selection) is deterministic.
ARGUMENTS = {"esam": {"name": "esam", "beta": 1.0}}


def main(path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(STEPS * BATCH, 12)).astype("float32")
    y = rng.integers(0, 4, size=STEPS * BATCH)
    results = {}
    for name in sorted(variants.registered()):
        inner = model()
        sam = keras_sam.SAMModel(inner, variant=ARGUMENTS.get(name, name))
        sam.compile(
            optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        history = sam.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
        for i, w in enumerate(inner.get_weights()):
            results[f"{name}/weight_{i}"] = w
        for key in ("loss", "sam_fraction", "perturbation_norm"):
            results[f"{name}/{key}"] = np.asarray(history.history[key])
    results["tensorflow_imported"] = np.asarray(
        sys.modules.get("tensorflow") is not None
    )
    np.savez(path, **results)


if __name__ == "__main__":
    main(sys.argv[1])
