"""Run as a script: what SAM logs under MirroredStrategy on two logical CPUs.

Prints one JSON line: the epoch's logged values (`fit`'s history), the
reference's values from the clean passes of each replica ("expected") and
from the perturbed passes ("perturbed"). Needs its own process, because the
logical devices must be configured before TensorFlow initializes.
"""

import json

import two_cpus  # noqa: F401  (first: two logical CPUs, this checkout on sys.path)
import tensorflow as tf  # noqa: E402

import keras  # noqa: E402

import keras_sam  # noqa: E402
from tests import clean_pass, models, reference  # noqa: E402
from tests.logged_values_test import BATCH, LR, RHO, data  # noqa: E402


def main():
    x, y, sample_weight = data()
    strategy = tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])
    ref = reference.ReferenceModel(models.seeded_tanh_mlp(), models.sparse_ce())
    with strategy.scope():
        model = keras_sam.SAMModel(
            models.seeded_tanh_mlp(), variant=keras_sam.variants.SAM(rho=RHO)
        )
        model.compile(optimizer=keras.optimizers.SGD(LR), loss=models.sparse_ce(),
                      **clean_pass.metrics())
    history = model.fit(x, y, sample_weight=sample_weight, batch_size=BATCH,
                        epochs=1, shuffle=False, verbose=0).history
    expected, perturbed = clean_pass.sam_epoch(
        ref, x, y, sample_weight, BATCH, RHO, reference.MomentumSGD(LR), split=2
    )
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "logged": {name: values[-1] for name, values in history.items()},
        "expected": expected,
        "perturbed": perturbed,
    }))


if __name__ == "__main__":
    main()
