"""keras_sam: Sharpness-Aware Minimization and its variants for Keras 3."""

from keras_sam import callbacks, schedules, variants
from keras_sam.custom_step import StepResult
from keras_sam.stateful_step import stateful_step
from keras_sam.sam_model import SAMModel

__version__ = "0.1.0"

__all__ = [
    "SAMModel", "StepResult", "callbacks", "schedules", "stateful_step",
    "variants",
]
