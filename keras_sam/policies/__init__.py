"""When a variant takes its perturbed pass: every step, every k-th, adaptive."""

from keras_sam.policies.adaptive_policy import AdaptivePolicy
from keras_sam.policies.every_k import EveryK
from keras_sam.policies.policy import Policy

__all__ = ["AdaptivePolicy", "EveryK", "Policy"]
