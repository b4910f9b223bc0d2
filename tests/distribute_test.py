"""SAMModel under tf.distribute.MirroredStrategy on two logical CPUs."""

import pytest

from tests import check_script

# A MirroredStrategy subprocess over every variant: ~70 s, in the slow step.
pytestmark = [pytest.mark.tensorflow_only, pytest.mark.slow]


@pytest.fixture(scope="module")
def errors():
    report = check_script.report("distributed_check.py")
    return report["errors"] | {
        "divergence": report["divergence"], "forced_xla": report["forced_xla"],
        "skipped_step": report["skipped_step"],
    }


def test_sync_perturbation_equals_single_device_sam_on_the_global_batch(errors):
    assert errors["sync_perturbation=True vs sync formula"] <= 1e-5
    assert errors["sync_perturbation=True vs per_replica formula"] > 1e-3


def test_default_perturbs_each_replica_with_its_own_gradient(errors):
    assert errors["sync_perturbation=False vs per_replica formula"] <= 1e-5
    assert errors["sync_perturbation=False vs sync formula"] > 1e-3


def test_every_variant_keeps_replicas_identical(errors):
    """Weights, optimizer slots, statistics and decisions match on replicas."""
    divergence = errors["divergence"]
    assert set(divergence) >= {"sam", "look_sam", "ae_sam", "wsam", "ga_sam"}
    for variant_id, gaps in divergence.items():
        assert gaps["shared"] == 0.0, (variant_id, gaps)


def test_forced_xla_under_a_strategy_raises_a_clear_error(errors):
    assert "jit_compile=True does not work under a tf.distribute" in errors["forced_xla"]
    assert "jit_compile=False" in errors["forced_xla"]


def test_a_step_not_finite_on_one_replica_is_skipped_on_all_and_counted_once(errors):
    """Every replica skips it (their weights stay identical and finite), and
    `skipped_steps` counts the step once, not once per replica."""
    report = errors["skipped_step"]
    assert report["finite"] and report["gap"] == 0.0
    assert report["skipped_steps"] == [1.0]
