"""Run as a script: one worker of a two-worker MultiWorkerMirroredStrategy job.

`TF_CONFIG` names the cluster and this worker's index. Each step's global
batch is 16 rows of a fixed array; worker i trains on rows [8i, 8i + 8) of
it (built with `distribute_datasets_from_function`, so the split is known).
The worker fits `STEPS` steps of SAM, AE-SAM, AE-LookSAM, LookSAM and
LookSAM with `sync_perturbation=True`, writes the initial and final trainable
weights and its copy of LookSAM's cache to `OUTPUT_DIR/worker_<i>.npz`, then
prints one JSON line with the branch decisions its replica took at each
step (recorded inside the compiled step). Keras's `fit` needs
`keras_sam.distribution.enable_multi_worker_fit()` under this strategy; the
worker records the error of a plain `fit` before calling it.
tests/multi_worker_test.py starts two of these, compares the workers with
each other and with the single-process formula.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_sam  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests import models, switching  # noqa: E402

STRATEGY = None  # created first thing in main(), before any other op

BATCH, STEPS, RHO, LR, MOMENTUM = 16, 8, 0.1, 0.1, 0.9
AE_SAM = dict(delta=0.8, lambda_1=-0.5, lambda_2=1.0)
K = 3  # LookSAM's period


def data():
    """The global batches: 4 batches of 16 rows, used twice (8 steps)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4 * BATCH, 12)).astype("float32")
    return x, rng.integers(0, 4, 4 * BATCH)


def worker_rows(worker, workers=2):
    """Indices of the rows `worker` trains on, batch after batch."""
    half = BATCH // workers
    return np.concatenate([
        np.arange(start + worker * half, start + (worker + 1) * half)
        for start in range(0, 4 * BATCH, BATCH)
    ])


def dataset_fn(context):
    x, y = data()
    rows = worker_rows(context.input_pipeline_id, context.num_input_pipelines)
    per_replica = context.get_per_replica_batch_size(BATCH)
    dataset = tf.data.Dataset.from_tensor_slices((x[rows], y[rows]))
    return dataset.batch(per_replica).repeat(2)


def plain_fit_error():
    """The error of a plain Keras `fit` under this strategy, or None."""
    with STRATEGY.scope():
        model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(4)])
        model.compile(optimizer="sgd", loss="mse")
    try:
        model.fit(
            STRATEGY.distribute_datasets_from_function(dataset_fn),
            epochs=1, steps_per_epoch=1, verbose=0,
        )
    except ValueError as error:
        return str(error).splitlines()[0][:200]
    return None


def make_variant(name):
    """SAM, or a branching variant that records its decision at each step."""
    if name == "sam":
        return keras_sam.variants.SAM(rho=RHO)
    cls = switching.instrumented(keras_sam.variants.registered()[name], STEPS)
    if name == "look_sam":
        return cls(rho=RHO, k=K)
    return cls(rho=RHO, **AE_SAM)


def train(variant, sync=False):
    with STRATEGY.scope():
        model = keras_sam.SAMModel(
            models.seeded_tanh_mlp(), variant=variant, sync_perturbation=sync
        )
        model.compile(
            optimizer=keras.optimizers.SGD(LR, momentum=MOMENTUM),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    initial = [v.numpy() for v in model.model.trainable_variables]
    dataset = STRATEGY.distribute_datasets_from_function(dataset_fn)
    history = model.fit(dataset, epochs=1, steps_per_epoch=STEPS, verbose=0)
    final = [v.numpy() for v in model.model.trainable_variables]
    # The copy of this worker's one replica: records are not aggregated.
    decisions = getattr(model.variant, "decisions", None)
    if decisions is not None:
        (decisions,) = decisions.value.values
        decisions = decisions.numpy().tolist()
    cache = [v.value.values[0].numpy()
             for v in getattr(model.variant, "orthogonal_gradients", [])]
    return initial, final, history.history["sam_fraction"][0], decisions, cache


def main():
    global STRATEGY
    STRATEGY = tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING
        )
    )
    output_dir = sys.argv[1]
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    arrays, report = {}, {"worker": task["index"]}
    report["replicas"] = STRATEGY.num_replicas_in_sync
    report["plain_fit_error"] = plain_fit_error()
    keras_sam.distribution.enable_multi_worker_fit()  # keras-team/keras#20585
    for name in ("sam", "ae_sam", "ae_look_sam", "look_sam", "look_sam_sync"):
        with STRATEGY.scope():
            variant = make_variant(name.removesuffix("_sync"))
        initial, final, fraction, decisions, cache = train(
            variant, sync=name.endswith("_sync")
        )
        for i, (a, b) in enumerate(zip(initial, final)):
            arrays[f"{name}_initial_{i}"], arrays[f"{name}_final_{i}"] = a, b
        for i, c in enumerate(cache):
            arrays[f"{name}_cache_{i}"] = c
        report[f"{name}_sam_fraction"] = fraction
        report[f"{name}_decisions"] = decisions
    np.savez(os.path.join(output_dir, f"worker_{task['index']}.npz"), **arrays)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
