"""Run as a script: the variants beyond SAM under MirroredStrategy, 2 CPUs.

Prints one JSON line: each replica's recorded branch decisions (AE-SAM,
AE-LookSAM, LookSAM), the distance of each variant's weights from its
per-replica formula and from a wrong formula (negative control), and
LookSAM's cache on each replica, per-replica and with
`sync_perturbation=True`. A process of its own: the logical devices must be
configured before TensorFlow initializes, and one strategy per process.
"""

import json

import two_cpus  # noqa: F401  (first: two logical CPUs, this checkout on sys.path)
import tensorflow as tf  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_sam  # noqa: E402
from keras_sam import variants  # noqa: E402

from tests import golden, models, reference, replicas, switching  # noqa: E402
from tests.variants.ae_look_sam_test import ae_look_sam_reference  # noqa: E402
from tests.variants.ae_sam_test import ae_sam_reference  # noqa: E402
from tests.variants.esam_test import esam_reference  # noqa: E402
from tests.variants.ga_sam_test import (  # noqa: E402
    ascent_gradients, ga_sam_reference, relative_strength,
)
from tests.variants.look_sam_test import look_sam_reference  # noqa: E402
from tests.variants.wsam_test import wsam_reference  # noqa: E402

STEPS, BATCH, RHO, LR, MOMENTUM = 8, 16, 0.1, 0.1, 0.9
K, ALPHA, GAMMA, BETA = 3, 0.7, 0.8, 0.9
# The AE switch takes both branches within these 8 steps (asserted).
AE = dict(delta=0.8, lambda_1=-0.5, lambda_2=1.0)
BRANCHING = ("ae_sam", "ae_look_sam", "look_sam")


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS * BATCH, 12)).astype("float32")
    return x, rng.integers(0, 4, STEPS * BATCH)


def variant(name):
    """A fresh variant; the branching ones record each replica's decisions."""
    arguments = {
        "wsam": dict(rho=RHO, gamma=GAMMA),
        "ga_sam": dict(rho=RHO, beta=BETA),
        "look_sam": dict(rho=RHO, k=K, alpha=ALPHA),
        "ae_sam": dict(rho=RHO, **AE),
        "ae_look_sam": dict(rho=RHO, alpha=ALPHA, **AE),
        # All variables perturbed (beta=1): the replicas' own draws do not
        # enter; each keeps half of its own rows.
        "esam": dict(rho=RHO, beta=1.0, gamma=0.5, seed=1),
    }[name]
    cls = variants.registered()[name]
    if name in BRANCHING:
        cls = switching.instrumented(cls, steps=STEPS)
    return cls(**arguments)


def ga_sam_per_replica():
    """GA-SAM's statistics from the replica-mean gradient, ascent per replica."""
    state, strength = {"v": None, "t": 0}, {}

    def shared(ref, parts, step):
        mean = replicas.mean(replicas.clean_gradients(ref, parts))
        strength["r"] = relative_strength(state, mean, BETA, 1e-3)

    def replica(ref, batch, step):
        clean, before = ref.clean_gradients(batch)
        return ascent_gradients(ref, batch, clean, before, strength["r"], RHO, 1)

    return replicas.per_replica([replica, replica], shared)


def references(name):
    """`{formula: reference_gradients}`, fresh: "per_replica" is keras_sam's
    rule; "global" (one device on the global batch) and, for the AE switch,
    "alone" (replica 0 decides on its own `||g||^2`) must be far from it."""
    def ae(statistic=np.mean):
        switch = replicas.SharedSwitch(
            switching.AdaptiveSwitch(**AE, total_steps=STEPS), statistic
        )
        if name == "ae_sam":
            fns = [ae_sam_reference(RHO, switch)] * 2
        else:
            fns = [ae_look_sam_reference(RHO, switch, switching.ReuseCache(ALPHA))
                   for _ in range(2)]
        fn = replicas.per_replica(fns, switch.prepare)
        fn.decisions = switch.switch.decisions
        return fn

    if name == "wsam":
        return {
            "per_replica": replicas.per_replica(
                [wsam_reference(RHO, GAMMA, True) for _ in range(2)]
            ),
            "global": wsam_reference(RHO, GAMMA, True),
        }
    if name == "esam":
        # Each replica ranks its own rows by their unscaled loss increase.
        return {
            "per_replica": replicas.per_replica(
                [esam_reference(RHO, 1.0, 0.5, seed=1) for _ in range(2)]
            ),
            "global": esam_reference(RHO, 1.0, 0.5, seed=1),
        }
    if name == "ga_sam":
        return {"per_replica": ga_sam_per_replica(),
                "global": ga_sam_reference(RHO, BETA, 1e-3, 1)}
    if name == "look_sam":
        caches = [switching.ReuseCache(ALPHA) for _ in range(2)]
        fn = replicas.per_replica(
            [look_sam_reference(RHO, K, ALPHA, c) for c in caches]
        )
        fn.caches = caches
        global_cache = switching.ReuseCache(ALPHA)
        single = look_sam_reference(RHO, K, ALPHA, global_cache)
        single.caches = [global_cache]
        return {"per_replica": fn, "global": single}
    if name == "ae_sam":
        return {"per_replica": ae(), "alone": ae(lambda q: q[0]),
                "global": ae_sam_reference(
                    RHO, switching.AdaptiveSwitch(**AE, total_steps=STEPS))}
    return {"per_replica": ae(), "alone": ae(lambda q: q[0]),
            "global": ae_look_sam_reference(
                RHO, switching.AdaptiveSwitch(**AE, total_steps=STEPS),
                switching.ReuseCache(ALPHA))}


def fit(strategy, name, sync=False):
    x, y = data()
    with strategy.scope():
        model = keras_sam.SAMModel(
            models.seeded_tanh_mlp(), variant=variant(name),
            sync_perturbation=sync,
        )
        model.compile(
            optimizer=keras.optimizers.SGD(LR, momentum=MOMENTUM),
            loss=models.sparse_ce(),
        )
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    return model


def replay(reference_gradients):
    """The weights after `STEPS` reference steps from the same initial ones."""
    ref = reference.ReferenceModel(models.seeded_tanh_mlp(), models.sparse_ce())
    x, y = data()
    batches = reference.batches(x, y, BATCH)
    golden.replay(ref, reference_gradients, batches, LR, MOMENTUM)
    return ref.weights


def distance(actual, expected):
    return max(reference.relative_error(a, e) for a, e in zip(actual, expected))


def copies(variables):
    """Each replica's copy of each variable: `[replica][variable]`."""
    per_variable = [[c.numpy() for c in v.value.values] for v in variables]
    return [list(values) for values in zip(*per_variable)]


def cache_report(model, caches):
    """Replica gap of LookSAM's cache and each copy's distance from `caches`
    (one reference cache per replica, or one for all)."""
    mine = copies(model.variant.orthogonal_gradients)
    gap = max(float(np.max(np.abs(a - b))) for a, b in zip(mine[0], mine[1]))
    expected = caches * (len(mine) // len(caches))
    return {"gap": gap, "error": [distance(c, e.cached)
                                  for c, e in zip(mine, expected)]}


def check(strategy, name, sync=False):
    """Fits `name` and measures it against its formulas (`references`)."""
    model = fit(strategy, name, sync)
    weights = [v.numpy() for v in model.model.trainable_variables]
    formulas = references(name)
    result = {formula: distance(weights, replay(fn))
              for formula, fn in formulas.items()}
    expected = formulas["global" if sync else "per_replica"]
    if name in BRANCHING:
        for record in ("decisions", "calls"):
            variable = getattr(model.variant, record)
            result[record] = [c[0].tolist() for c in copies([variable])]
    if hasattr(expected, "decisions"):
        result["reference_decisions"] = expected.decisions
        result["alone_decisions"] = formulas["alone"].decisions
    if name == "look_sam":
        result["cache"] = cache_report(model, expected.caches)
    return result


def main():
    strategy = tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])
    report = {name: check(strategy, name)
              for name in ("wsam", "ga_sam", "esam", *BRANCHING)}
    # With sync_perturbation=True: LookSAM on one device, global batch.
    report["look_sam_sync"] = check(strategy, "look_sam", sync=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
