"""Run as a script: SAMModel on JAX under `keras.distribution.DataParallel`.

Two host devices (XLA_FLAGS set before JAX starts). Prints one JSON line:
the relative error between SAM trained data-parallel with
`sync_perturbation=True` and SAM on one device over the same global batches,
and the error message the default `sync_perturbation=False` raises.
"""

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_sam  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from tests.backend.agreement_check import model  # noqa: E402


def train(sync_perturbation, x, y):
    inner = model()
    sam = keras_sam.SAMModel(inner, variant="sam", sync_perturbation=sync_perturbation)
    sam.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    sam.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return inner.get_weights()


def main():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 12)).astype("float32")
    y = rng.integers(0, 4, size=64)
    single = train(True, x, y)
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=jax.devices())
    )
    parallel = train(True, x, y)
    try:
        train(False, x, y)
        error = None
    except ValueError as e:
        error = str(e)
    relative = max(
        float(np.abs(p - s).max() / max(np.abs(s).max(), 1e-6))
        for p, s in zip(parallel, single)
    )
    print(json.dumps({"devices": len(jax.devices()), "relative_error": relative,
                      "moved": float(np.abs(single[0] - model().get_weights()[0]).max()),
                      "error": error}))


if __name__ == "__main__":
    main()
