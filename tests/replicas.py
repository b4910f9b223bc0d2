"""References for a step split over replicas, for the distributed checks.

Under a strategy with `n` replicas, replica `r` trains on the `r`-th of `n`
consecutive shares of each global batch, forms its own perturbation
(m-sharpness, as the SAM paper) and the optimizer receives the mean of the
replicas' final gradients. `per_replica` builds that step from one
single-device reference (`reference_gradients(ref, batch, step)`, as
`tests/golden.py` replays them) per replica; what the replicas share (AE-SAM's
switch on the replica mean of `||g||^2`, GA-SAM's gradient statistics) is
formed first, from every replica's clean gradients.
"""

import keras
import numpy as np

from tests import switching


def shares(batch, replicas):
    """Replica `r`'s rows of a global `(x, y, sample_weight)` batch."""
    x, y, sample_weight = batch
    size = len(y) // replicas

    def rows(t, r):
        return None if t is None else t[r * size:(r + 1) * size]

    return [tuple(rows(t, r) for t in (x, y, sample_weight))
            for r in range(replicas)]


def mean(structures):
    """The element-wise mean of equally nested lists/tuples of arrays."""
    return keras.tree.map_structure(
        lambda *values: np.mean(values, axis=0), *structures
    )


def clean_gradients(ref, parts):
    """Each replica's clean gradients at the current weights (stateless model)."""
    return [ref.clean_gradients(part)[0] for part in parts]


def per_replica(references, shared=None):
    """`reference_gradients` of the step split over `len(references)` replicas.

    `references[r]` is replica `r`'s single-device reference, with its own
    state (LookSAM's cache); `shared(ref, parts, step)` runs first on every
    step, for the state all replicas share.
    """

    def gradients(ref, batch, step):
        parts = shares(batch, len(references))
        if shared is not None:
            shared(ref, parts, step)
        return mean([f(ref, part, step) for f, part in zip(references, parts)])

    return gradients


class SharedSwitch:
    """AE-SAM's switch deciding once per step for every replica.

    `prepare` (the `shared` hook of `per_replica`) decides on `statistic` of
    the replicas' `||g||^2` (the mean, as keras_sam; `lambda q: q[0]` is the
    negative control of a replica deciding alone); each replica's reference
    then calls the object as its switch and gets that decision.
    """

    def __init__(self, switch, statistic=np.mean):
        self.switch, self.statistic = switch, statistic
        self.decision = None

    def prepare(self, ref, parts, step):
        squared_norms = [switching.dot(g, g) for g in clean_gradients(ref, parts)]
        self.decision = self.switch.decide(self.statistic(squared_norms), step)

    def __call__(self, gradients, step):
        del gradients, step
        return self.decision
