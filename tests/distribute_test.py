"""SAMModel under tf.distribute.MirroredStrategy on two logical CPUs."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def errors():
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tests", "distributed_check.py")],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_sync_perturbation_equals_single_device_sam_on_the_global_batch(errors):
    assert errors["sync_perturbation=True vs sync formula"] <= 1e-5
    assert errors["sync_perturbation=True vs per_replica formula"] > 1e-3


def test_default_perturbs_each_replica_with_its_own_gradient(errors):
    assert errors["sync_perturbation=False vs per_replica formula"] <= 1e-5
    assert errors["sync_perturbation=False vs sync formula"] > 1e-3
