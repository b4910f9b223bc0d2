"""The hand-written SAM floor on TensorFlow: a `GradientTape` `train_step`."""

import keras
import tensorflow as tf


class TwoPassSAM(keras.Model):
    """Minimal SAM by hand: the time floor for any two-pass SAM step.

    Pass 1 at `w`; snapshot the weights; assign `w + rho * g / ||g||`;
    pass 2; assign the snapshot back (never add-then-subtract); the base
    optimizer applies pass 2's gradient. No loss scaling, no non-finite
    check, no BatchNorm bookkeeping: pass 2 also updates BatchNorm moving
    statistics, which a correct implementation must not do, so the floor is
    a lower bound, not a reference implementation.
    """

    def __init__(self, inner, rho=0.05, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner
        self.rho = rho

    def call(self, inputs, training=None):
        return self.inner(inputs, training=training)

    def _loss_and_gradients(self, x, y, variables):
        with tf.GradientTape() as tape:
            y_pred = self.inner(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
        return loss, y_pred, tape.gradient(loss, variables)

    def train_step(self, data):
        x, y = data
        variables = self.inner.trainable_variables
        loss, y_pred, gradients = self._loss_and_gradients(x, y, variables)
        scale = self.rho / (tf.linalg.global_norm(gradients) + 1e-12)
        snapshot = [tf.identity(v) for v in variables]
        for v, w, g in zip(variables, snapshot, gradients):
            v.assign(w + scale * g)
        _, _, perturbed_gradients = self._loss_and_gradients(x, y, variables)
        for v, w in zip(variables, snapshot):
            v.assign(w)
        self.optimizer.apply(perturbed_gradients, variables)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}
