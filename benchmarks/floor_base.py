"""What every backend's hand-written SAM floor shares: the wrapper itself."""

import keras


class TwoPassSAMBase(keras.Model):
    """Minimal SAM by hand: the time floor for any two-pass SAM step.

    Pass 1 at `w`; pass 2 at `w + rho * g / ||g||`; the base optimizer
    applies pass 2's gradient to `w`. No loss scaling, no non-finite check,
    no BatchNorm bookkeeping (pass 2 also updates BatchNorm statistics,
    which a correct implementation must not do): a lower bound, not a
    reference implementation. Each `floor_<backend>.py` adds `train_step`.
    """

    def __init__(self, inner, rho=0.05, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner
        self.rho = rho

    def call(self, inputs, training=None):
        return self.inner(inputs, training=training)
