"""What `step_time.py` measures in one `fit` epoch: step time and peak memory.

`EpochProbe` is a `keras.callbacks.Callback` that overrides only
`on_epoch_begin`, `on_train_batch_begin` and `on_epoch_end`. Keras dispatches
`on_train_batch_end` hooks asynchronously only while no callback overrides
them, so the probe leaves the training loop exactly as a plain `fit` runs
it (no per-step host synchronisation).

- Time: from the start of step `skip` (after a device sync: on the
  optimizer's iteration counter on TensorFlow and torch, on the state JAX's
  `fit` carries between steps on JAX, so earlier queued work is not counted)
  to the end of the epoch (Keras has read the metrics back, which syncs),
  over `steps - skip` steps. Skipping the first steps leaves out the data
  iterator's start; tracing and XLA compilation happen in a warm-up `fit`
  before any timed epoch. For a `SAMModel`, `sam_fraction` is the share of
  perturbed steps among the timed steps (from its `sam_fraction` metric).
- Memory: the peak of the backend's memory counter during the epoch
  minus its value at the epoch's start (`step_time_memory.py` says which
  counter each backend and device has).
"""

import os
import platform
import sys
import time

import keras

import step_time_memory

BACKEND = keras.backend.backend()


def _device_sync(model):
    """Waits for the steps queued so far (JAX: on the state `fit` carries)."""
    if BACKEND != "jax":
        keras.ops.convert_to_numpy(model.optimizer.iterations)
    elif getattr(model, "_jax_state", None):
        import jax
        jax.block_until_ready(model._jax_state)


def _metric_result(model, metric):
    """`metric.result()`; mid-epoch on JAX, from the state `fit` carries."""
    state = getattr(model, "_jax_state", None) if BACKEND == "jax" else None
    if state and not model._jax_state_synced:
        mapping = list(zip(model.metrics_variables, state["metrics_variables"]))
        with keras.StatelessScope(state_mapping=mapping):
            return float(metric.result())
    return float(metric.result())


class EpochProbe(keras.callbacks.Callback):
    """Seconds per step and peak memory bytes of one `fit` epoch."""

    def __init__(self, skip=1, memory=True):
        super().__init__()
        self.skip = skip
        self.counter = step_time_memory.meter()[0] if memory else None
        self.seconds_per_step = None
        self.peak_bytes = None
        self.sam_fraction = None
        self._start = None
        self._baseline = None
        self._fraction = None

    def _mean_sam_fraction(self):
        tracker = getattr(self.model, "sam_fraction_tracker", None)
        return None if tracker is None else _metric_result(self.model, tracker)

    def on_epoch_begin(self, epoch, logs=None):
        self._start = None
        self._baseline = None if self.counter is None else self.counter.start()

    def on_train_batch_begin(self, batch, logs=None):
        if batch == self.skip:
            _device_sync(self.model)
            self._fraction = self._mean_sam_fraction()
            self._start = (batch, time.perf_counter())

    def on_epoch_end(self, epoch, logs=None):
        end = time.perf_counter()
        steps = self.params["steps"]
        if self._start is not None and steps > self._start[0]:
            skipped = self._start[0]
            self.seconds_per_step = (end - self._start[1]) / (steps - skipped)
            if self._fraction is not None:
                # Share of perturbed steps among the timed ones only.
                total = self._mean_sam_fraction() * steps - self._fraction * skipped
                self.sam_fraction = total / (steps - skipped)
        if self._baseline is not None:
            self.peak_bytes = max(0, self.counter.peak(self._baseline))


def load_average():
    """The 1, 5 and 15 minute load averages (None where unavailable)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def backend_version():
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(BACKEND)
    if module is None:
        return None
    return sys.modules[module].__version__ if module in sys.modules else (
        __import__(module).__version__)


def machine():
    """A description of where the benchmark ran."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "gpus": step_time_memory.accelerators(),
        "backend": BACKEND,
        "backend_version": backend_version(),
        "keras": keras.__version__,
        "memory_device": step_time_memory.memory_device(),
    }
