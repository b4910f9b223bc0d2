"""Run as a script: a scheduled `rho` under MirroredStrategy on two CPUs.

Prints one JSON line: the per-step `perturbation_norm` (one step per epoch)
and the value of `rho` on each replica after the run. Needs its own
process, because the logical devices must be configured before TensorFlow
initializes.
"""

import json

import two_cpus  # noqa: F401  (first: two logical CPUs, this checkout on sys.path)
import tensorflow as tf  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_sam  # noqa: E402


def main():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 5)).astype("float32")
    y = (x @ rng.normal(size=(5, 1))).astype("float32")
    with strategy.scope():
        rho = keras.optimizers.schedules.PiecewiseConstantDecay(
            [1, 3], [0.02, 0.2, 0.05]
        )
        model = keras_sam.SAMModel(
            keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)]),
            variant=keras_sam.variants.SAM(rho=rho), sync_perturbation=True,
        )
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    history = model.fit(x, y, batch_size=16, epochs=5, shuffle=False, verbose=0)
    replicas = strategy.experimental_local_results(model.variant.rho.value)
    print(json.dumps({
        "perturbation_norm": [float(v) for v in history.history["perturbation_norm"]],
        "rho_per_replica": [float(v) for v in replicas],
    }))


if __name__ == "__main__":
    main()
