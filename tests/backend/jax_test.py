"""SAMModel on JAX under keras.distribution.DataParallel (two host devices)."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.backends

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def report():
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tests", "backend", "jax_distribution_check.py")],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_data_parallel_sync_perturbation_equals_one_device(report):
    assert report["devices"] == 2
    assert report["moved"] > 1e-3
    assert report["relative_error"] <= 1e-5


def test_per_device_perturbation_is_a_clear_error(report):
    assert "sync_perturbation=True" in report["error"]
    assert "2 devices" in report["error"]
