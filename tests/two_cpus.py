"""Imported first by the scripts that run under MirroredStrategy.

Configures TensorFlow's CPU as two logical devices, which must happen
before TensorFlow initializes (hence a process of its own per script, and
one strategy per process), and puts this checkout's keras_sam and tests
first on `sys.path`, whatever is installed.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration()] * 2,
)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
