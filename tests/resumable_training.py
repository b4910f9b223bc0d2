"""Run as a script: a training job that survives being killed.

`python tests/resumable_training.py VARIANT BACKUP_DIR OUTPUT.npz` trains
`SAMModel(bn_dropout_mlp, VARIANT)` for 3 epochs of 4 steps with
`keras.callbacks.BackupAndRestore(BACKUP_DIR)`, then saves every variable
(model, variant, RNG seeds, optimizer) to OUTPUT.npz and prints one JSON line
(`initial_epoch`, `epochs_run`, `iterations`). Run it again after a crash and
it resumes from the last backup. `--hang-at EPOCH:BATCH` makes it print
`HANGING` and stop (sleep, at most `--hang-seconds`) before that batch, so
that a test can kill it at a known point; it exits with status 3 if nobody
does. tests/interruption_test.py drives it.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_sam  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests import models  # noqa: E402

BATCH, STEPS, EPOCHS = 16, 4, 3


class Hang(keras.callbacks.Callback):
    """Stops before batch `batch` of epoch `epoch` until killed (bounded)."""

    def __init__(self, epoch, batch, seconds):
        super().__init__()
        self.epoch, self.batch, self.seconds = epoch, batch, seconds
        self.current = None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.current, batch) == (self.epoch, self.batch):
            print("HANGING", flush=True)
            time.sleep(self.seconds)
            sys.exit(3)


class FirstEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self, "initial_epoch"):
            self.initial_epoch = epoch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("variant")
    parser.add_argument("backup_dir")
    parser.add_argument("output")
    parser.add_argument("--hang-at", default=None)
    parser.add_argument("--hang-seconds", type=float, default=120.0)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH * STEPS, 12)).astype("float32")
    y = rng.integers(0, 4, BATCH * STEPS)
    keras.utils.set_random_seed(0)
    model = keras_sam.SAMModel(models.bn_dropout_mlp(), variant=args.variant)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss=models.sparse_ce(),
    )
    first = FirstEpoch()
    callbacks = [keras.callbacks.BackupAndRestore(args.backup_dir), first]
    if args.hang_at:
        epoch, batch = (int(part) for part in args.hang_at.split(":"))
        callbacks.append(Hang(epoch, batch, args.hang_seconds))
    history = model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False,
                        verbose=0, callbacks=callbacks)
    state = [v.numpy() for v in model.variables + model.optimizer.variables]
    np.savez(args.output, *state)
    print(json.dumps({
        "initial_epoch": first.initial_epoch,
        "epochs_run": len(history.history["loss"]),
        "iterations": int(model.optimizer.iterations.numpy()),
    }), flush=True)


if __name__ == "__main__":
    main()
