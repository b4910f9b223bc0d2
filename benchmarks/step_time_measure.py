"""What `step_time.py` measures in one `fit` epoch: step time and peak memory.

`EpochProbe` is a `keras.callbacks.Callback` that overrides only
`on_epoch_begin`, `on_train_batch_begin` and `on_epoch_end`. Keras dispatches
`on_train_batch_end` hooks asynchronously only while no callback overrides
them, so the probe leaves the training loop exactly as a plain `fit` runs
it (no per-step host synchronisation).

- Time: from the start of step `skip` (after a device sync on the
  optimizer's iteration counter, so earlier queued work is not counted) to
  the end of the epoch (Keras has read the metrics back, which syncs), over
  `steps - skip` steps. Skipping the first steps leaves out the data
  iterator's start; tracing and XLA compilation happen in a warm-up `fit`
  before any timed epoch. For a `SAMModel`, `sam_fraction` is the share of
  perturbed steps among the timed steps (from its `sam_fraction` metric).
- Memory: the peak of TensorFlow's allocator for the device the step runs
  on (`tf.config.experimental.get_memory_info`, which works for `CPU:0` as
  well as `GPU:0`), reset at the start of the epoch, minus what was
  allocated then: the bytes a training step needs on top of the resident
  weights, optimizer state and data. Memory a library allocates outside
  TensorFlow's allocator (e.g. oneDNN scratch buffers) is not seen. On CPU
  the default allocator counts large allocations only (see
  `allocator_sees_everything`), so `step_time.py` measures CPU memory in a
  short second run with the BFC allocator (`peaks_in_subprocess`).
"""

import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import keras
import tensorflow as tf


def memory_device():
    """`"GPU:0"` when TensorFlow sees a GPU, else `"CPU:0"`."""
    return "GPU:0" if tf.config.list_logical_devices("GPU") else "CPU:0"


def _memory_info(device):
    try:
        return tf.config.experimental.get_memory_info(device)
    except (ValueError, RuntimeError):
        return None


class EpochProbe(keras.callbacks.Callback):
    """Seconds per step and peak allocator bytes of one `fit` epoch."""

    def __init__(self, skip=1, device=None):
        super().__init__()
        self.skip = skip
        self.device = device or memory_device()
        self.seconds_per_step = None
        self.peak_bytes = None
        self.sam_fraction = None
        self._start = None
        self._baseline = None
        self._fraction = None

    def _mean_sam_fraction(self):
        tracker = getattr(self.model, "sam_fraction_tracker", None)
        return None if tracker is None else float(tracker.result())

    def on_epoch_begin(self, epoch, logs=None):
        self._start = None
        info = _memory_info(self.device)
        if info is not None:
            try:
                tf.config.experimental.reset_memory_stats(self.device)
                info = _memory_info(self.device)
            except (ValueError, RuntimeError):
                info = None
        self._baseline = None if info is None else info["current"]

    def on_train_batch_begin(self, batch, logs=None):
        if batch == self.skip:
            keras.ops.convert_to_numpy(self.model.optimizer.iterations)
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
        info = _memory_info(self.device)
        if info is not None and self._baseline is not None:
            self.peak_bytes = max(0, info["peak"] - self._baseline)


def allocator_sees_everything():
    """Whether `get_memory_info` counts every allocation of this process.

    GPU allocators (BFC) do. TensorFlow's default CPU allocator (oneDNN's)
    counts only allocations of 256 KiB and more, which hides most of a small
    model's per-variable tensors; with `TF_CPU_ALLOCATOR_USE_BFC=true` (set
    before TensorFlow is imported) every CPU allocation is counted.
    """
    return (memory_device() != "CPU:0"
            or os.environ.get("TF_CPU_ALLOCATOR_USE_BFC", "").lower() == "true")


def peaks_in_subprocess(script, argv):
    """`{(model, jit, method): peak_mb}` from `script argv` run with the BFC allocator.

    The timed run keeps TensorFlow's default CPU allocator (the BFC one is
    slower on CPU); its memory columns come from this second, short run.
    """
    with tempfile.TemporaryDirectory() as folder:
        stem = os.path.join(folder, "memory")
        env = dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC="true")
        done = subprocess.run([sys.executable, script, *argv, "--memory", "inline",
                               "--output", stem], env=env, capture_output=True,
                              text=True)
        if done.returncode:
            raise RuntimeError("the memory run failed:\n" + done.stderr[-3000:])
        with open(stem + ".json") as f:
            rows = json.load(f)["results"]
    return {(r["model"], r["jit"], r["method"]): r["peak_mb"] for r in rows}


def load_average():
    """The 1, 5 and 15 minute load averages (None where unavailable)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine():
    """A description of where the benchmark ran."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    gpus = tf.config.list_physical_devices("GPU")
    details = [tf.config.experimental.get_device_details(g).get("device_name", g.name)
               for g in gpus]
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "gpus": details,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "memory_device": memory_device(),
    }
