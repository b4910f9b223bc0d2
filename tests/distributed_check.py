"""Run as a script: SAM under MirroredStrategy on two logical CPUs vs the formula.

Prints one JSON line of relative errors. Needs its own process, because the
logical devices must be configured before TensorFlow initializes.
"""

import json

import two_cpus  # noqa: F401  (first: two logical CPUs, this checkout on sys.path)
import tensorflow as tf  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_sam  # noqa: E402

from tests import models, reference  # noqa: E402

RHO, LR, BATCH = 0.1, 0.1, 16


def reference_weights(x, y, sync):
    """Single-device formula: replica halves, per-replica or global perturbation."""
    ref = reference.ReferenceModel(models.seeded_tanh_mlp(), models.sparse_ce())
    sgd = reference.MomentumSGD(LR)
    for xb, yb, _ in reference.batches(x, y, BATCH):
        halves = [
            (xb[h], yb[h], None)
            for h in (slice(0, BATCH // 2), slice(BATCH // 2, BATCH))
        ]
        clean = [ref.clean_gradients(half) for half in halves]
        if sync:
            mean = [np.mean(gs, axis=0) for gs in zip(*[c[0] for c in clean])]
            offsets = [reference.sam_offsets(mean, RHO)] * 2
        else:
            offsets = [reference.sam_offsets(c[0], RHO) for c in clean]
        perturbed = [
            ref.gradients_at(half, o, c[1]) for half, o, c in zip(halves, offsets, clean)
        ]
        final = [np.mean(gs, axis=0) for gs in zip(*perturbed)]
        ref.set_weights(sgd.step(ref.weights, final))
    return ref.weights


def distributed_weights(strategy, x, y, sync):
    with strategy.scope():
        model = keras_sam.SAMModel(
            models.seeded_tanh_mlp(), variant=keras_sam.variants.SAM(rho=RHO), sync_perturbation=sync
        )
        model.compile(optimizer=keras.optimizers.SGD(LR), loss=models.sparse_ce())
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    return [v.numpy() for v in model.model.trainable_variables]


def replica_divergence(strategy, x, y):
    """Max difference between mirrored copies, per variant and kind of variable.

    "cache" is variant state documented to be per replica, as the
    perturbation it shapes (LookSAM's orthogonal-gradient cache, F-SAM's
    gradient average, MSAM's momentum: the variant's variables created with
    `aggregation="none"`); "shared" is everything else (weights, optimizer
    slots, BN statistics, variant statistics and counters).
    """
    divergence = {}
    for variant_id in sorted(keras_sam.variants.registered()):
        with strategy.scope():
            model = keras_sam.SAMModel(models.seeded_tanh_mlp(), variant=variant_id)
            model.compile(
                optimizer=keras.optimizers.SGD(LR, momentum=0.9),
                loss=models.sparse_ce(),
            )
        model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
        worst = {"shared": 0.0, "cache": 0.0}
        per_replica = {
            id(v) for v in model.variant.variables if v.aggregation == "none"
        }
        for variable in model.variables + model.optimizer.variables:
            copies = [c.numpy() for c in variable.value.values]
            assert all(np.all(np.isfinite(c)) for c in copies), variable.path
            kind = "cache" if id(variable) in per_replica else "shared"
            gap = max(float(np.max(np.abs(c - copies[0]))) for c in copies)
            worst[kind] = max(worst[kind], gap)
        divergence[variant_id] = worst
    return divergence


def skipped_step(strategy, x, y):
    """A batch not finite on the first replica only: what `fit` logs, and
    whether the replicas' weights stayed finite and identical."""
    x = x.copy()
    x[BATCH + 3] = np.nan  # the second step, in the first replica's half
    with strategy.scope():
        model = keras_sam.SAMModel(models.seeded_tanh_mlp())
        model.compile(optimizer=keras.optimizers.SGD(LR), loss=models.sparse_ce())
    history = model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    copies = [[c.numpy() for c in v.value.values] for v in model.trainable_variables]
    return {
        "skipped_steps": history.history["skipped_steps"],
        "finite": all(np.all(np.isfinite(c)) for cs in copies for c in cs),
        "gap": max(float(np.max(np.abs(c - cs[0]))) for cs in copies for c in cs),
    }


def forced_xla_message(strategy, x, y):
    """The error a user who forces XLA under the strategy gets."""
    with strategy.scope():
        model = keras_sam.SAMModel(models.seeded_tanh_mlp())
        model.compile(
            optimizer=keras.optimizers.SGD(LR), loss=models.sparse_ce(),
            jit_compile=True,
        )
    try:
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    except ValueError as error:
        return str(error)
    return ""


def main():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4 * BATCH, 12)).astype("float32")
    y = rng.integers(0, 4, 4 * BATCH)
    # One strategy per process: a second MirroredStrategy reuses collective
    # instance keys and its all-reduces deadlock or mismatch.
    strategy = tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])
    errors = {}
    for sync in (False, True):
        actual = distributed_weights(strategy, x, y, sync)
        for name, expected_sync in (("sync", True), ("per_replica", False)):
            expected = reference_weights(x, y, expected_sync)
            errors[f"sync_perturbation={sync} vs {name} formula"] = max(
                reference.relative_error(a, e) for a, e in zip(actual, expected)
            )
    print(json.dumps({
        "errors": errors,
        "divergence": replica_divergence(strategy, x, y),
        "forced_xla": forced_xla_message(strategy, x, y),
        "skipped_step": skipped_step(strategy, x, y),
    }))


if __name__ == "__main__":
    main()
