"""LookSAM: SAM every k-th step, the cached sharpness direction in between."""

import keras

from keras_sam.policies.every_k import EveryK
from keras_sam.variants.gradient_reuse import GradientReuse, check_granularity
from keras_sam.variants.sam import SAM
from keras_sam.basics import check_range


@keras.saving.register_keras_serializable(package="keras_sam")
class LookSAM(GradientReuse, SAM):
    """LookSAM: a SAM step every `k` steps, reusing its direction in between.

    Use it when SAM's doubled step time is too expensive: one step in `k`
    takes SAM's second pass and caches the part of the perturbed gradient
    orthogonal to the clean one (the "sharpness direction"); the other steps
    cost one pass and add that direction back, scaled to the current
    gradient. Cost `1 + 1/k` passes per step; the period counts the
    optimizer's iterations, so it continues across `fit` calls. With
    `gradient_accumulation_steps=n` those count updates: every micro-batch
    of each k-th update takes a SAM step with its own perturbation.

    Update rule: on steps `t mod k == 0`: `g_s = grad L(w + rho * g /
    (||g|| + epsilon))`, cache `g_v = g_s - (<g_s, g> / (||g||^2 + epsilon))
    * g`, the optimizer receives `g_s`; on other steps it receives
    `g + alpha * (||g|| / (||g_v|| + epsilon)) * g_v` (global norms and dots).

    Args:
        rho: float > 0, radius of SAM's L2 ball (0.05, as SAM).
        k: int >= 1, the period of SAM steps (5; `k=1` is SAM).
        alpha: float >= 0, weight of the cached direction (0.7, reported
            best in the paper's ablation; `alpha=0` is SAM every k-th step
            and plain gradients in between).
        epsilon: float >= 0 added to norms.
        granularity: `"global"` (default: norms and dots over all
            variables together) or `"per_variable"` (each variable's own
            norms, dot and reuse scale, as pytorch-optimizer's LookSAM).

    Example:

    ```python
    variant = keras_sam.variants.LookSAM(rho=0.05, k=5, alpha=0.7)
    model = keras_sam.SAMModel(inner, variant=variant)
    ```

    Reference:
        Liu et al., "Towards Efficient and Scalable Sharpness-Aware
        Minimization", CVPR 2022, arXiv:2203.02714.
    """

    identifier = "look_sam"
    # `--tune`'s grid: LookSAM's paper sets alpha = 0.7; smaller values reuse
    # less of the cached direction.
    tuning_grid = {"rho": SAM.tuning_grid["rho"], "alpha": (0.1, 0.7)}

    def __init__(self, rho=0.05, k=5, alpha=0.7, epsilon=1e-12,
                 granularity="global", **kwargs):
        super().__init__(rho=rho, epsilon=epsilon, **kwargs)
        self.policy = EveryK(k, name="every_k")
        self.k = self.policy.k
        self.alpha = float(check_range("alpha", alpha, low=0.0, low_open=False))
        self.granularity = check_granularity(granularity)

    def get_config(self):
        return {
            **super().get_config(), "k": self.k, "alpha": self.alpha,
            "granularity": self.granularity,
        }
