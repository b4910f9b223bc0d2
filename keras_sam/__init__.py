"""keras_sam: Sharpness-Aware Minimization and its variants for Keras 3."""

from keras_sam import (
    backend, callbacks, custom_step, distribution, executor, schedules, variants,
)
from keras_sam.custom_step import StepResult
from keras_sam.stateful_step import stateful_step
from keras_sam.sam_model import SAMModel

# The algorithms reach the step through `keras_sam.executor` (they sit below
# it and do not import it).
executor.install(
    cond=backend.cond,
    mean_over_replicas=backend.mean_over_replicas,
    minimize=custom_step.minimize,
)

__version__ = "0.1.0"

__all__ = [
    "SAMModel", "StepResult", "callbacks", "schedules", "stateful_step",
    "variants",
]
