"""`variant.minimize` in a custom loop under torch.distributed (2 processes).

Keras's torch `fit` is single-device; PyTorch users scale out with
`torch.distributed`. `minimize` all-reduces what must agree (the final
update, the finiteness decision, a variant's replica means) when a process
group is initialized, so the processes end with the same weights, equal to
the formula: each process perturbs with its own shard's gradient
(m-sharpness), the optimizer gets the mean of the perturbed gradients.
"""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests import models, reference

pytestmark = pytest.mark.backends
pytest.importorskip("torch")
from tests.backend import torch_distributed_check as check  # noqa: E402

WORLD = 2


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(variant, tmp_path):
    port = _free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "torch"}
    processes = [
        subprocess.Popen([sys.executable, check.__file__, str(rank), str(WORLD),
                          str(port), variant, str(tmp_path)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for rank in range(WORLD)
    ]
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]
    return [list(np.load(tmp_path / f"{name}.npz").values())
            for name in ["initial_0", *range(WORLD)]]


def test_sam_processes_agree_and_follow_the_formula(tmp_path):
    initial, first, second = _train("sam", tmp_path)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    ref = reference.ReferenceModel(models.seeded_tanh_mlp(), reference_loss)
    ref.set_weights(initial)  # torch's initializers draw other numbers
    x, y = check.data(WORLD)
    sgd = reference.MomentumSGD(0.1)
    for step in range(check.STEPS):
        perturbed = []
        for rank in range(WORLD):
            rows = slice((step * WORLD + rank) * check.SHARD,
                         (step * WORLD + rank + 1) * check.SHARD)
            batch = (x[rows], y[rows], None)
            perturbed.append(ref.sam_gradients(batch, rho=0.05))
        mean = [np.mean(g, axis=0) for g in zip(*perturbed)]
        ref.set_weights(sgd.step(ref.weights, mean))
    reference.assert_weights_close(first, ref.weights)


def test_look_sam_processes_agree(tmp_path):
    initial, first, second = _train("look_sam", tmp_path)
    assert not np.allclose(initial[0], first[0])
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_a_step_not_finite_on_one_process_is_skipped_and_counted_on_all(tmp_path):
    """Rank 1's second batch holds a NaN: both processes skip that step,
    stay identical, and both count it in `skipped_steps`."""
    import json

    initial, first, second = _train("sam_model_nan", tmp_path)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
        assert np.all(np.isfinite(a))
    assert not np.allclose(initial[0], first[0])
    for rank in range(WORLD):
        history = json.loads((tmp_path / f"history_{rank}.json").read_text())
        assert history["skipped_steps"] == [1.0], (rank, history)


def reference_loss(y_true, y_pred, sample_weight):
    return models.sparse_ce()(y_true, y_pred, sample_weight)
