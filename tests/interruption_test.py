"""A training process killed with SIGKILL and restarted ends as if never killed.

tests/resumable_training.py trains with `BackupAndRestore` (a backup per
epoch). One process is killed in the middle of epoch 1 (after the epoch-0
backup exists) and started again; another trains without interruption. Both
final states (weights, BN statistics, RNG seeds, variant state, optimizer)
must be identical.
"""

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

pytestmark = pytest.mark.tensorflow_only

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tests", "resumable_training.py")
TIMEOUT = 180  # seconds for each process


def _command(variant_id, backup_dir, output, *extra):
    return [sys.executable, SCRIPT, variant_id, backup_dir, output, *extra]


def _env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}


def _wait_for_line(process, expected, timeout):
    """Reads stdout until a line equals `expected`; False at EOF or timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
        if not ready:
            break
        line = process.stdout.readline()
        if not line:  # the process ended
            return False
        if line.strip() == expected:
            return True
    return False


def _finish(command):
    result = subprocess.run(command, capture_output=True, text=True,
                            timeout=TIMEOUT, env=_env())
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _load(path):
    with np.load(path) as arrays:
        return [arrays[f"arr_{i}"] for i in range(len(arrays.files))]


def _kill(process):
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)


@pytest.mark.slow  # ~30 s per variant: two subprocess trainings
@pytest.mark.parametrize("variant_id", [
    pytest.param("sam", marks=pytest.mark.slow),
    pytest.param("look_sam", marks=pytest.mark.slow),
    "ae_sam",  # the most state: statistics, T, RNG seeds
])
def test_sigkilled_training_resumes_to_the_uninterrupted_result(variant_id):
    with tempfile.TemporaryDirectory(prefix="keras_sam_kill_") as root:
        backup_dir = os.path.join(root, "backup")
        killed_output = os.path.join(root, "resumed.npz")
        reference_output = os.path.join(root, "uninterrupted.npz")
        # The uninterrupted run goes on beside the one to be killed.
        uninterrupted = subprocess.Popen(
            _command(variant_id, os.path.join(root, "other"), reference_output),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
        )
        victim = subprocess.Popen(
            _command(variant_id, backup_dir, killed_output, "--hang-at", "1:2"),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env(),
        )
        try:
            assert _wait_for_line(victim, "HANGING", TIMEOUT), "never reached 1:2"
            # Epoch 0 is backed up; epoch 1 has trained two batches.
            with open(os.path.join(backup_dir, "training_metadata.json")) as f:
                assert json.load(f)["epoch"] == 1
            assert os.path.exists(os.path.join(backup_dir, "latest.weights.h5"))
            victim.send_signal(signal.SIGKILL)
            assert victim.wait(timeout=30) == -signal.SIGKILL
            assert not os.path.exists(killed_output)

            resumed = _finish(_command(variant_id, backup_dir, killed_output))
            assert resumed == {"initial_epoch": 1, "epochs_run": 2, "iterations": 12}
            assert not os.path.exists(backup_dir)  # removed at the end of fit

            _, stderr = uninterrupted.communicate(timeout=TIMEOUT)
            assert uninterrupted.returncode == 0, stderr[-3000:]
        finally:
            _kill(victim)
            _kill(uninterrupted)
        expected, actual = _load(reference_output), _load(killed_output)
        assert len(actual) == len(expected) > 0
        for i, (a, e) in enumerate(zip(actual, expected)):
            np.testing.assert_array_equal(a, e, err_msg=f"variable {i}")
