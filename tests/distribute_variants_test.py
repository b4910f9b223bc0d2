"""WSAM, GA-SAM, ESAM, LookSAM, AE-SAM and AE-LookSAM under MirroredStrategy.

Two logical CPUs (tests/distributed_variants_check.py, in a subprocess).
Replica `r` trains on the `r`-th half of each global batch; its perturbation
is its own (m-sharpness, as the SAM paper), and the optimizer all-reduces
the final gradients. What decides a branch (AE-SAM's switch on the replica
mean of `||g||^2`, LookSAM's period) must be the same on every replica; the
decisions are recorded on each replica inside the compiled step.
"""

import pytest

from tests import check_script

pytestmark = [pytest.mark.tensorflow_only, pytest.mark.slow]


@pytest.fixture(scope="module")
def report():
    return check_script.report("distributed_variants_check.py")


@pytest.mark.parametrize("name", ["ae_sam", "ae_look_sam", "look_sam"])
def test_every_replica_takes_the_same_branch_at_every_step(report, name):
    decisions, calls = report[name]["decisions"], report[name]["calls"]
    assert len(decisions) == 2 and len(decisions[0]) == 8
    assert decisions[0] == decisions[1], decisions
    # Each replica ran its perturbed pass exactly on the steps it decided.
    assert calls == decisions
    if name == "look_sam":  # k = 3: steps 0, 3, 6
        assert decisions[0] == [float(step % 3 == 0) for step in range(8)]
    else:
        # The switch takes both branches, so equality is not trivial; it
        # decides on the replica mean, as the reference does, and a replica
        # deciding on its own ||g||^2 would have decided otherwise.
        expected = [float(d) for d in report[name]["reference_decisions"]]
        assert 0.0 in decisions[0] and 1.0 in decisions[0]
        assert decisions[0] == expected
        assert report[name]["alone_decisions"] != report[name]["reference_decisions"]


@pytest.mark.parametrize(
    "name", ["wsam", "ga_sam", "esam", "look_sam", "ae_sam", "ae_look_sam"]
)
def test_weights_follow_the_per_replica_formula(report, name):
    errors = report[name]
    assert errors["per_replica"] <= 1e-5, errors
    # Negative controls: one perturbation from the global gradient (one
    # device on the global batch) is far off...
    assert errors["global"] > 1e-3, errors
    # ...and so is an AE switch without the replica mean of ||g||^2.
    if "alone" in errors:
        assert errors["alone"] > 1e-3, errors


def test_look_sam_cache_is_per_replica_by_default(report):
    cache = report["look_sam"]["cache"]
    # Each replica caches the orthogonal part of its own perturbed gradient:
    # the copies differ, and each is its replica's reference.
    assert cache["gap"] > 1e-4
    assert max(cache["error"]) <= 1e-4, cache  # a difference of float32 gradients


def test_look_sam_with_sync_perturbation_is_one_device_on_the_global_batch(report):
    synced = report["look_sam_sync"]
    assert synced["cache"]["gap"] == 0.0  # identical copies
    assert max(synced["cache"]["error"]) <= 1e-4, synced
    assert synced["global"] <= 1e-5, synced
    assert synced["per_replica"] > 1e-3, synced
