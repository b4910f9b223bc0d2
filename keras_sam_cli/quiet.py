"""Keeps the backend's native log lines off the benchmark's stderr.

The rule, one for the whole command: TensorFlow's and absl's lines are hidden
while TF_CPP_MIN_LOG_LEVEL is 3 or unset; `--verbose` (which sets it to 0) or
a lower level set by the user shows them. Standard library only.
"""

import contextlib
import logging
import os
import sys

LEVEL = "TF_CPP_MIN_LOG_LEVEL"


def hidden():
    """Whether the backend's own log lines are hidden (see the module doc)."""
    return os.environ.get(LEVEL, "3") == "3"


def configure(verbose):
    """Sets TF_CPP_MIN_LOG_LEVEL for this process and its children.

    `verbose` turns a default (unset or 3) level into 0; without it an unset
    level becomes 3. A level the user set below 3 is kept either way.
    """
    if verbose and hidden():
        os.environ[LEVEL] = "0"
    os.environ.setdefault(LEVEL, "3")


@contextlib.contextmanager
def native_stderr_silenced():
    """Hides file descriptor 2 for the duration of the block, if `hidden()`.

    TensorFlow's C++ runtime writes a few lines when it loads and when it
    first initializes its devices (e.g. a failed CUDA probe on a CPU-only
    machine), before or regardless of TF_CPP_MIN_LOG_LEVEL. Python errors
    raised inside the block are reported after the descriptor is restored.
    """
    try:
        sys.stderr.flush()
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    if fd is None or not hidden():
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
    """Sets the absl, TensorFlow, tfds and urllib3 Python loggers to errors only, if `hidden()`.

    urllib3 warns on each retry of a failed download request; the error that
    ends the download names the cause once.
    """
    if not hidden():
        return
    for name in ("absl", "tensorflow", "tensorflow_datasets", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)
