"""Peak memory of `step_time.py`'s training steps, per Keras backend.

`EpochProbe` reports the peak of a byte counter during a timed `fit` epoch
minus its value at the epoch's start: the bytes a training step needs on
top of the resident weights, optimizer state and data. The counter, per backend and device
(`meter()`; `step_time.py --memory auto` picks the mode):

- TensorFlow: its allocator for the step's device
  (`tf.config.experimental.get_memory_info`, reset per epoch). GPU:
  inline. CPU: the default allocator counts large allocations only, so
  a second short run with `TF_CPU_ALLOCATOR_USE_BFC=true` ('subprocess').
  Memory a library allocates outside TensorFlow's allocator (oneDNN
  scratch buffers) is not seen.
- torch on CUDA: `torch.cuda.max_memory_allocated` after
  `reset_peak_memory_stats` per epoch, inline (the caching allocator's
  allocated bytes, not what it reserved).
- JAX on GPU/TPU: `device.memory_stats()` `peak_bytes_in_use`, which JAX
  cannot reset: the peak since the process started. So every (model,
  jit, method) runs in its own short process ('per_method': warm-up and
  timed epochs run the same step, and nothing else ran there), and the
  row is that peak minus `bytes_in_use` at the timed epoch's start.
- JAX or torch on CPU: neither counts host allocations, so the process's
  resident set: its high-water mark (`VmHWM`, reset per epoch by writing
  5 to `/proc/self/clear_refs`, Linux) minus `VmRSS` at the epoch's
  start, in a second short run ('subprocess') with glibc's malloc told to
  `mmap` every allocation of 64 KiB or more and to return freed memory
  (`MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`), so that freed
  tensors leave the resident set. Page-granular and it counts every
  allocation of the process (Python objects, thread stacks): a coarse
  number, meaningful for tensors of tens of KiB and more.

Where no counter exists (no `/proc`, an unknown device) peaks are None
and `memory_note()` says why.
"""

import json
import os
import subprocess
import sys
import tempfile

import keras

BACKEND = keras.backend.backend()
# glibc: mmap (and munmap on free) every allocation >= 64 KiB; trim the heap.
RSS_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "131072"}


def accelerators():
    """Names of the accelerators the backend sees (empty on CPU)."""
    if BACKEND == "tensorflow":
        import tensorflow as tf
        return [tf.config.experimental.get_device_details(g).get("device_name", g.name)
                for g in tf.config.list_physical_devices("GPU")]
    if BACKEND == "jax":
        import jax
        return [d.device_kind for d in jax.devices() if d.platform != "cpu"]
    if BACKEND == "torch":
        import torch
        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def memory_device():
    """Where the step's memory is counted: `"GPU:0"`/`"TPU:0"`..., or `"CPU:0"`."""
    if BACKEND == "jax":
        import jax
        device = jax.devices()[0]
        return f"{device.platform.upper()}:0"
    return "GPU:0" if accelerators() else "CPU:0"


class _TensorFlowMeter:
    def __init__(self, device):
        import tensorflow as tf
        self.tf, self.device = tf, device

    def _info(self):
        try:
            return self.tf.config.experimental.get_memory_info(self.device)
        except (ValueError, RuntimeError):
            return None

    def start(self):
        if self._info() is None:
            return None
        try:
            self.tf.config.experimental.reset_memory_stats(self.device)
        except (ValueError, RuntimeError):
            return None
        info = self._info()
        return None if info is None else info["current"]

    def peak(self, baseline):
        info = self._info()
        return None if info is None else info["peak"] - baseline


class _TorchCudaMeter:
    def __init__(self):
        import torch
        self.cuda = torch.cuda

    def start(self):
        self.cuda.reset_peak_memory_stats()
        return self.cuda.memory_allocated()

    def peak(self, baseline):
        return self.cuda.max_memory_allocated() - baseline


class _JaxDeviceMeter:
    """Peak since the process started: meaningful in a one-method process."""

    def __init__(self, device):
        self.device = device

    def start(self):
        return self.device.memory_stats()["bytes_in_use"]

    def peak(self, baseline):
        return self.device.memory_stats()["peak_bytes_in_use"] - baseline


class _RSSMeter:
    @staticmethod
    def _kib(field):
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith(field))

    def start(self):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current VmRSS
        return 1024 * self._kib("VmRSS:")

    def peak(self, baseline):
        return 1024 * self._kib("VmHWM:") - baseline


_METER = {}


def meter():
    """`(counter or None, note)`: this backend's memory counter and why not."""
    if not _METER:
        device = memory_device()
        counter, note = None, ""
        if BACKEND == "tensorflow":
            counter = _TensorFlowMeter(device)
        elif device != "CPU:0":
            if BACKEND == "torch":
                counter = _TorchCudaMeter()
            elif BACKEND == "jax":
                import jax
                if jax.devices()[0].memory_stats():
                    counter = _JaxDeviceMeter(jax.devices()[0])
                else:
                    note = f"JAX reports no memory_stats() for {device}"
            else:
                note = f"no memory counter for {BACKEND} on {device}"
        else:
            try:
                _RSSMeter().start()
                counter = _RSSMeter()
            except OSError as error:
                note = f"process RSS unavailable ({error})"
        _METER.update(counter=counter, note=note)
    return _METER["counter"], _METER["note"]


def auto_memory_mode():
    """'inline', 'subprocess' or 'per_method': where peaks are exact (see above)."""
    counter, _ = meter()
    if isinstance(counter, _JaxDeviceMeter):
        return "per_method"
    if isinstance(counter, _TorchCudaMeter):
        return "inline"
    if isinstance(counter, _RSSMeter):
        return ("inline" if os.environ.get("MALLOC_MMAP_THRESHOLD_") == "65536"
                else "subprocess")
    return ("inline" if memory_device() != "CPU:0"
            or os.environ.get("TF_CPU_ALLOCATOR_USE_BFC", "").lower() == "true"
            else "subprocess")


def memory_note(mode):
    """One line for the report's header: how peak memory was measured."""
    counter, note = meter()
    if mode == "off":
        return "not measured (--memory off)"
    if counter is None:
        return f"not measured: {note}"
    what = {
        _TensorFlowMeter: "peak of TensorFlow's allocator per timed epoch "
                          "(tf.config.experimental.get_memory_info)",
        _TorchCudaMeter: "torch.cuda.max_memory_allocated per timed epoch "
                         "(reset_peak_memory_stats at its start)",
        _JaxDeviceMeter: "JAX device memory_stats() peak_bytes_in_use, which "
                         "cannot be reset, in one process per model, jit and "
                         "method (warm-up and timed epochs of that step only)",
        _RSSMeter: "process resident set high-water mark (VmHWM, reset per "
                   "epoch via /proc/self/clear_refs; page-granular, counts "
                   "every allocation of the process)",
    }[type(counter)]
    where = {
        "inline": "in the timed run",
        "per_method": "",
        "subprocess": ("in a second short run (jit off unless --jit on) with "
                       + ("TF_CPU_ALLOCATOR_USE_BFC=true" if BACKEND == "tensorflow"
                          else "glibc malloc mmapping and releasing every "
                               "allocation >= 64 KiB")),
    }[mode]
    return f"{what}, minus its value at the epoch's start{', ' if where else ''}{where}"


def _run(script, argv, env):
    with tempfile.TemporaryDirectory() as folder:
        stem = os.path.join(folder, "memory")
        done = subprocess.run([sys.executable, script, *argv, "--output", stem],
                              env=dict(os.environ, **env), capture_output=True,
                              text=True)
        if done.returncode:
            raise RuntimeError("the memory run failed:\n" + done.stderr[-3000:])
        with open(stem + ".json") as f:
            rows = json.load(f)["results"]
    return {(r["model"], r["jit"], r["method"]): r["peak_mb"] for r in rows}


def peaks_in_subprocess(script, argv):
    """`{(model, jit, method): peak_mb}` from `script argv --memory inline`,
    run with the allocator settings under which the counter sees everything.

    The timed run keeps the default allocator (the counting ones are slower
    on CPU); its memory columns come from this second, short run.
    """
    env = ({"TF_CPU_ALLOCATOR_USE_BFC": "true"} if BACKEND == "tensorflow"
           else RSS_ENV)
    return _run(script, [*argv, "--memory", "inline"], env)


def peaks_per_method(script, argv, keys, log=None):
    """`{(model, jit, method): peak_mb}`, one `script` process per key."""
    peaks = {}
    for model, jit, method in keys:
        if log:
            log(f"  memory of {model} jit={'on' if jit else 'off'} {method}")
        peaks.update(_run(script, [*argv, "--models", model, "--jit",
                                   "on" if jit else "off", "--only", method,
                                   "--memory", "inline"], {}))
    return peaks
