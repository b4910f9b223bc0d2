"""Checkpoint and resume with Keras callbacks: what a resumed run reproduces.

What Keras 3.15's `BackupAndRestore` does (keras/src/callbacks/
backup_and_restore.py): each backup is `model.save_weights` (every variable:
weights, optimizer slots and iterations, the variant's state, and the RNG
seed states that `SAMModel` saves itself) plus `{"epoch", "batch"}`; on
resume it loads the weights and sets the initial epoch, and ignores `batch`.
So with `save_freq="epoch"` a run interrupted anywhere resumes at the start
of the interrupted epoch from the state at its start: exactly the
uninterrupted run. With an integer `save_freq` it resumes from the state of
the last backup *and* restarts that epoch at batch 0, replaying the batches
the backup had already seen. A mid-epoch resume that is exact takes a
`ModelCheckpoint` and the rest of the epoch's data (last test).
"""

import os
import shutil

import keras
import numpy as np
import pytest

import keras_sam
from keras_sam.callbacks import AdaptiveSAMCallback
from tests import models

VARIANTS = ["sam", "look_sam", "ae_sam"]
BATCH, STEPS, EPOCHS = 16, 4, 3  # 4 steps per epoch, 12 in all


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH * STEPS, 12)).astype("float32")
    return x, rng.integers(0, 4, BATCH * STEPS)


def _model(variant_id):
    keras.utils.set_random_seed(0)
    model = keras_sam.SAMModel(models.bn_dropout_mlp(), variant=variant_id)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss=models.sparse_ce(),
    )
    return model


def _fit(model, x, y, callbacks=(), **kwargs):
    kwargs.setdefault("epochs", EPOCHS)
    return model.fit(x, y, batch_size=BATCH, shuffle=False, verbose=0,
                     callbacks=list(callbacks), **kwargs)


def _state(model):
    """Every variable a resumed run depends on, in a fixed order."""
    return [np.array(v.numpy()) for v in model.variables + model.optimizer.variables]


def _assert_same(actual, expected):
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected)):
        np.testing.assert_array_equal(a, e, err_msg=f"variable {i}")


def _differs(actual, expected):
    return any(not np.array_equal(a, e) for a, e in zip(actual, expected))


_UNINTERRUPTED = {}


def _uninterrupted(variant_id):
    """State after an uninterrupted run (computed once per variant)."""
    if variant_id not in _UNINTERRUPTED:
        x, y = _data()
        model = _model(variant_id)
        _fit(model, x, y)
        _UNINTERRUPTED[variant_id] = _state(model)
    return _UNINTERRUPTED[variant_id]


class _Crash(Exception):
    pass


class _Interrupt(keras.callbacks.Callback):
    """Raises before batch `batch` of epoch `epoch`, as a crash would."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch = epoch, batch

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.current, batch) == (self.epoch, self.batch):
            raise _Crash(f"interrupted at epoch {self.epoch}, batch {batch}")


class _Recorder(keras.callbacks.Callback):
    """State at `fit` start (after a restore) and after each step."""

    def on_train_begin(self, logs=None):
        self.restored = _state(self.model)
        self.after_step = {}

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        self.after_step[step] = _state(self.model)


_INTERRUPTED = {}


def _interrupted(variant_id, tmp_path_factory):
    """One run interrupted before step 8 (epoch 1, batch 3), per variant.

    It trains with three checkpointers at once: `BackupAndRestore` per epoch
    ("epoch/"), `BackupAndRestore` every 2 batches ("batch/") and
    `ModelCheckpoint` every 2 batches ("ckpt-e{epoch}-b{batch}.keras").
    Returns `(directory, recorder)`; tests resume from copies.
    """
    if variant_id not in _INTERRUPTED:
        directory = tmp_path_factory.mktemp(f"interrupted_{variant_id}")
        x, y = _data()
        recorder = _Recorder()
        callbacks = [
            keras.callbacks.BackupAndRestore(str(directory / "epoch")),
            keras.callbacks.BackupAndRestore(str(directory / "batch"), save_freq=2),
            keras.callbacks.ModelCheckpoint(
                str(directory / "ckpt-e{epoch}-b{batch}.keras"), save_freq=2
            ),
            recorder,
            _Interrupt(epoch=1, batch=3),
        ]
        with pytest.raises(_Crash):
            _fit(_model(variant_id), x, y, callbacks=callbacks)
        # Stopped at epoch 1, batch 3: three steps of epoch 1 are lost.
        assert max(recorder.after_step) == STEPS + 3
        _INTERRUPTED[variant_id] = directory, recorder
    return _INTERRUPTED[variant_id]


def _backup_copy(variant_id, tmp_path_factory, tmp_path, kind):
    directory, recorder = _interrupted(variant_id, tmp_path_factory)
    backup_dir = tmp_path / kind
    shutil.copytree(directory / kind, backup_dir)
    return str(backup_dir), recorder


@pytest.mark.parametrize("variant_id", VARIANTS)
def test_backup_and_restore_resumes_exactly_from_the_last_epoch(
    variant_id, tmp_path_factory, tmp_path
):
    backup_dir, interrupted = _backup_copy(
        variant_id, tmp_path_factory, tmp_path, "epoch"
    )
    x, y = _data()
    recorder, model = _Recorder(), _model(variant_id)
    history = _fit(model, x, y, callbacks=[
        keras.callbacks.BackupAndRestore(backup_dir), recorder
    ])
    # The restored state is the state after epoch 0 (every variable:
    # weights, BN statistics, RNG seeds, variant state, optimizer slots)...
    _assert_same(recorder.restored, interrupted.after_step[STEPS])
    # ...epochs 1 and 2 run again, and the result is the uninterrupted run.
    assert len(history.history["loss"]) == EPOCHS - 1
    assert int(model.optimizer.iterations.numpy()) == EPOCHS * STEPS
    _assert_same(_state(model), _uninterrupted(variant_id))
    assert not os.path.exists(backup_dir)  # deleted when fit completes


@pytest.mark.parametrize("variant_id", ["look_sam", "ae_sam"])
def test_resume_depends_on_the_restored_variant_state(
    variant_id, tmp_path_factory, tmp_path
):
    """The test above can fail: a resume that loses the variant state differs."""

    class ForgetVariantState(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            for variable in self.model.variant.state_variables():
                variable.assign(np.zeros(variable.shape, variable.dtype))

    backup_dir, _ = _backup_copy(variant_id, tmp_path_factory, tmp_path, "epoch")
    x, y = _data()
    model = _model(variant_id)
    _fit(model, x, y, callbacks=[
        keras.callbacks.BackupAndRestore(backup_dir), ForgetVariantState()
    ])
    assert _differs(_state(model), _uninterrupted(variant_id))


@pytest.mark.parametrize("variant_id", VARIANTS)
def test_batch_level_backup_restores_its_state_and_replays_the_epoch(
    variant_id, tmp_path_factory, tmp_path
):
    backup_dir, interrupted = _backup_copy(
        variant_id, tmp_path_factory, tmp_path, "batch"
    )
    x, y = _data()
    recorder, model = _Recorder(), _model(variant_id)
    history = _fit(model, x, y, callbacks=[
        keras.callbacks.BackupAndRestore(backup_dir, save_freq=2), recorder
    ])
    # Backups after steps 2, 4, 6; the interruption came before step 8.
    # Everything is restored exactly as it was at the last backup...
    _assert_same(recorder.restored, interrupted.after_step[STEPS + 2])
    # ...but Keras restarts epoch 1 at batch 0: its first two batches are
    # trained twice, so the run is not the uninterrupted one.
    assert len(history.history["loss"]) == EPOCHS - 1
    replayed = 2
    assert int(model.optimizer.iterations.numpy()) == EPOCHS * STEPS + replayed
    assert _differs(_state(model), _uninterrupted(variant_id))


@pytest.mark.parametrize("variant_id", VARIANTS)
def test_model_checkpoint_mid_epoch_resume_is_exact(variant_id, tmp_path_factory):
    """A `.keras` checkpoint after step 6 + the rest of the data = no interruption.

    Resume = load the checkpoint, fit the remaining batches of the
    interrupted epoch, then the remaining epochs. AE-SAM's threshold
    schedule depends on the run's total steps T, which a partial `fit`
    cannot know: pass `AdaptiveSAMCallback(total_steps=T)` to the resumed
    fits.
    """
    directory, interrupted = _interrupted(variant_id, tmp_path_factory)
    saved = sorted(p for p in os.listdir(directory) if p.endswith(".keras"))
    # 1-based epoch and batches done: epoch 0 after 2 and 4, epoch 1 after 2.
    assert saved == ["ckpt-e1-b2.keras", "ckpt-e1-b4.keras", "ckpt-e2-b2.keras"]
    model = keras.models.load_model(str(directory / "ckpt-e2-b2.keras"))
    _assert_same(_state(model), interrupted.after_step[STEPS + 2])
    callbacks = []
    if variant_id == "ae_sam":
        callbacks = [AdaptiveSAMCallback(total_steps=EPOCHS * STEPS)]
    x, y = _data()
    done = 2 * BATCH
    _fit(model, x[done:], y[done:], callbacks=callbacks, epochs=1)
    _fit(model, x, y, callbacks=callbacks, initial_epoch=2)
    _assert_same(_state(model), _uninterrupted(variant_id))
