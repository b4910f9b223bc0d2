"""Every variant gives the same numbers on TensorFlow, JAX and PyTorch."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.backends

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BACKENDS = ("tensorflow", "jax", "torch")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("agreement")
    processes = {}
    for backend in BACKENDS:
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
               "PYTHONPATH": ROOT}
        processes[backend] = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tests", "backend", "agreement_check.py"),
             str(folder / f"{backend}.npz")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
    out = {}
    for backend, process in processes.items():
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, f"{backend}: {stderr[-3000:]}"
        out[backend] = dict(np.load(folder / f"{backend}.npz"))
    return out


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_same_weights_and_logs_as_tensorflow(results, backend):
    expected, actual = results["tensorflow"], results[backend]
    keys = [k for k in expected if "/" in k]
    assert {k.split("/")[0] for k in keys} >= {"sam", "gam", "look_sam", "ae_sam"}
    for key in keys:
        scale = max(np.abs(expected[key]).max(), 1e-6)
        error = np.abs(actual[key] - expected[key]).max() / scale
        assert error <= 1e-4, f"{backend} {key}: relative error {error:.3g}"


def test_training_moved_the_weights(results):
    # The agreement above must be able to fail: variants differ from each other.
    tf = results["tensorflow"]
    assert np.abs(tf["sam/weight_0"] - tf["gam/weight_0"]).max() > 1e-3
    assert tf["ae_sam/sam_fraction"][-1] < 1.0


def test_jax_path_does_not_import_tensorflow(results):
    assert not results["jax"]["tensorflow_imported"]
    assert results["tensorflow"]["tensorflow_imported"]


@pytest.fixture(scope="module")
def benchmarks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("benchmark")
    processes = {
        backend: subprocess.Popen(
            [sys.executable, "-m", "keras_sam_cli", "benchmark", "--backend", backend,
             "--epochs", "2", "--num-samples", "600", "--variants", "sam,ae_sam",
             "--seeds", "1", "--quiet", "--hessian-iterations", "5",
             "--output", str(folder / backend)],
            env={**os.environ, "PYTHONPATH": ROOT}, cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for backend in BACKENDS
    }
    out = {}
    for backend, process in processes.items():
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, f"{backend}: {stderr[-3000:]}"
        with open(folder / backend / "results.json") as f:
            out[backend] = json.load(f)
    return out


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_benchmark_gives_the_same_numbers_as_tensorflow(benchmarks, backend):
    assert benchmarks[backend]["environment"]["backend"] == backend
    expected = {r["method"]: r for r in benchmarks["tensorflow"]["runs"]}
    actual = {r["method"]: r for r in benchmarks[backend]["runs"]}
    assert set(actual) == {"erm", "sam", "ae_sam"}
    for method, run in expected.items():
        # 120 test examples: one near-tie prediction may flip (0.83 points).
        assert actual[method]["test_accuracy"] == pytest.approx(run["test_accuracy"], abs=1.0)
        assert actual[method]["sam_fraction"] == pytest.approx(run["sam_fraction"], abs=1e-6)
        assert actual[method]["test_loss"] == pytest.approx(run["test_loss"], rel=2e-3)
        # Power iteration stopped after 5 steps or a 1e-3 relative change.
        assert actual[method]["hessian_top_eigenvalue"] == pytest.approx(
            run["hessian_top_eigenvalue"], rel=2e-2
        )
        # A difference of two losses (about 2.3): float32 round-off is absolute.
        assert actual[method]["sharpness"] == pytest.approx(run["sharpness"], abs=1e-4)
