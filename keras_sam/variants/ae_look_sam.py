"""AE-LookSAM: LookSAM's reuse with AE-SAM's adaptive switch."""

import keras

from keras_sam.variants.ae_sam import AESAM
from keras_sam.variants.gradient_reuse import GradientReuse, check_granularity
from keras_sam.basics import check_range


@keras.saving.register_keras_serializable(package="keras_sam")
class AELookSAM(GradientReuse, AESAM):
    """AE-LookSAM: AE-SAM's switch decides the steps, LookSAM's reuse fills in.

    Use it for the cheapest near-SAM training of the family: SAM steps are
    taken where the gradient norm flags a sharp region (as AE-SAM) and
    refresh the cached sharpness direction; every other step costs one pass
    and adds that direction back (as LookSAM). The defaults give about 20 %
    SAM steps (logged as `sam_fraction`). Cost `1 + sam_fraction` passes per
    step. The switch's statistics and T are handled as for AE-SAM, by
    `keras_sam.callbacks.AdaptiveSAMCallback` (see docs/variants/ae_sam.md).

    Update rule: AE-SAM's test `q >= mu_t + c_t * sqrt(var_t)` on `q =
    ||g||^2`; SAM steps: `g_s = grad L(w + rho * g / (||g|| + epsilon))`,
    cache `g_v = g_s - (<g_s, g> / (||g||^2 + epsilon)) * g`, the optimizer
    receives `g_s`; other steps: `g + alpha * (||g|| / (||g_v|| + epsilon))
    * g_v` (plain `g` before the first SAM step).

    Args:
        rho: float > 0, radius of SAM's L2 ball (0.05, as SAM).
        delta: float in (0, 1), forgetting rate of the moving statistics
            (0.9).
        lambda_1: float, threshold coefficient at the end of the run (0.0).
        lambda_2: float, threshold coefficient at the start (2.0). With
            Gaussian `q`, `(0, 2)` gives about 20 % SAM steps, LookSAM's
            share at `k=5`.
        alpha: float >= 0, weight of the cached direction (0.7, LookSAM's).
        epsilon: float >= 0 added to norms.
        granularity: `"global"` (default: norms and dots over all
            variables together) or `"per_variable"` (each variable's own
            norms, dot and reuse scale, as pytorch-optimizer's LookSAM).

    Example:

    ```python
    model = keras_sam.SAMModel(inner, variant="ae_look_sam")
    ```

    Reference:
        Jiang et al., "An Adaptive Policy to Employ Sharpness-Aware
        Minimization", ICLR 2023, arXiv:2304.14647.
    """

    identifier = "ae_look_sam"
    # `--tune`'s grid, LookSAM's: its paper sets alpha = 0.7; smaller values
    # reuse less of the cached direction.
    tuning_grid = {"rho": AESAM.tuning_grid["rho"], "alpha": (0.1, 0.7)}

    def __init__(self, rho=0.05, delta=0.9, lambda_1=0.0, lambda_2=2.0,
                 alpha=0.7, epsilon=1e-12, granularity="global", **kwargs):
        super().__init__(
            rho=rho, delta=delta, lambda_1=lambda_1, lambda_2=lambda_2,
            epsilon=epsilon, **kwargs,
        )
        self.alpha = float(check_range("alpha", alpha, low=0.0, low_open=False))
        self.granularity = check_granularity(granularity)

    def get_config(self):
        return {
            **super().get_config(), "alpha": self.alpha,
            "granularity": self.granularity,
        }
