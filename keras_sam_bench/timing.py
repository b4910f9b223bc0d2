"""`StepTimer`: the steady-state time of one training step, from `fit` callbacks."""

import time

import keras


class StepTimer(keras.callbacks.Callback):
    """Measures seconds per training step, leaving out tracing and epoch edges.

    Keras calls `on_train_batch_end` once per execution (every
    `steps_per_execution` steps) with the index of the last step run. Within
    each epoch the timer takes the time from the end of the first execution
    to the end of the last one, divided by the steps in between: the first
    execution (which holds the `tf.function` tracing in epoch 1 and the data
    iterator's start) and validation are left out. Per-step times of the
    methods can therefore be compared directly.
    """

    def __init__(self):
        super().__init__()
        self.seconds = 0.0
        self.steps = 0
        self._first = None
        self._last = None

    def on_epoch_begin(self, epoch, logs=None):
        self._first = None
        self._last = None

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self._first is None:
            self._first = (batch, now)
        self._last = (batch, now)

    def on_epoch_end(self, epoch, logs=None):
        if self._first is None or self._last[0] <= self._first[0]:
            return
        self.seconds += self._last[1] - self._first[1]
        self.steps += self._last[0] - self._first[0]

    def seconds_per_step(self, fallback_seconds=None):
        """The measured mean; `fallback_seconds / steps seen` if nothing was timed."""
        if self.steps:
            return self.seconds / self.steps
        if fallback_seconds is None:
            raise ValueError("No steady-state step was timed (one execution per epoch).")
        return fallback_seconds / max(1, self.params.get("steps") or 1)
