"""Host-side callbacks: schedules, the AE-SAM statistics owner, logging."""

from keras_sam.callbacks.adaptive_sam_callback import AdaptiveSAMCallback

__all__ = ["AdaptiveSAMCallback"]
