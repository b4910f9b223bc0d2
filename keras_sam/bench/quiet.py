"""Keeps TensorFlow's native log lines off the benchmark's stderr."""

import contextlib
import logging
import os
import sys


@contextlib.contextmanager
def native_stderr_silenced():
    """Hides file descriptor 2 for the duration of the block.

    TensorFlow's C++ runtime writes a few lines when it loads and when it
    first initializes its devices (e.g. a failed CUDA probe on a CPU-only
    machine), before or regardless of TF_CPP_MIN_LOG_LEVEL. Python errors
    raised inside the block are reported after the descriptor is restored.
    """
    try:
        sys.stderr.flush()
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    try:
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def quiet_python_loggers():
    """Sets the absl, TensorFlow and tfds Python loggers to errors only."""
    for name in ("absl", "tensorflow", "tensorflow_datasets"):
        logging.getLogger(name).setLevel(logging.ERROR)
