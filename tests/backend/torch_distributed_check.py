"""One process of tests/backend/torch_distributed_test.py (torch, gloo, CPU).

`KERAS_BACKEND=torch python torch_distributed_check.py RANK WORLD PORT
VARIANT OUTPUT_DIR`: joins
the process group, trains a custom-step model (`variant.minimize` in its own
`train_step`) on its shard of every global batch with Keras's torch `fit`,
and saves its initial and final weights to `OUTPUT_DIR/initial_RANK.npz`
and `OUTPUT_DIR/RANK.npz`. VARIANT `sam_model_nan` trains a `SAMModel`
instead, with a NaN input in rank 1's second batch only, and also saves
its history to `OUTPUT_DIR/history_RANK.json`.
"""

import json

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch.distributed as dist  # noqa: E402

import keras_sam  # noqa: E402
from keras_sam import variants  # noqa: E402
from tests import models  # noqa: E402
from tests.custom_step_test import SAMClassifier  # noqa: E402

STEPS, SHARD = 3, 8


def data(world):
    """Global batches of `world * SHARD` rows, the same in every process."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS * world * SHARD, 12)).astype("float32")
    return x, rng.integers(0, 4, size=len(x))


def shard(array, rank, world):
    rows = [array[(s * world + rank) * SHARD:(s * world + rank + 1) * SHARD]
            for s in range(STEPS)]
    return np.concatenate(rows)


def main(rank, world, port, variant, output_dir):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}",
                            rank=rank, world_size=world)
    try:
        nan = variant == "sam_model_nan"
        if nan:
            model = keras_sam.SAMModel(models.seeded_tanh_mlp(), variant="sam")
        else:
            model = SAMClassifier(models.seeded_tanh_mlp(), variants.get(variant))
        np.savez(os.path.join(output_dir, f"initial_{rank}.npz"),
                 *[v.numpy() for v in model.trainable_variables])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=models.sparse_ce())
        x, y = data(world)
        x = shard(x, rank, world)
        if nan and rank == 1:
            x[SHARD] = np.nan  # the second step: not finite on rank 1 only
        history = model.fit(x, shard(y, rank, world), batch_size=SHARD,
                            shuffle=False, verbose=0).history
        if nan:
            with open(os.path.join(output_dir, f"history_{rank}.json"), "w") as f:
                json.dump(history, f)
        np.savez(os.path.join(output_dir, f"{rank}.npz"),
                 *[v.numpy() for v in model.trainable_variables])
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    rank, world, port = (int(a) for a in sys.argv[1:4])
    main(rank, world, port, sys.argv[4], sys.argv[5])
