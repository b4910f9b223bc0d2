"""The hand-written SAM floor on TensorFlow: a `GradientTape` `train_step`."""

import tensorflow as tf

from floor_base import TwoPassSAMBase


class TwoPassSAM(TwoPassSAMBase):
    """The floor with `GradientTape`: snapshot, assign `w + e`, assign back."""

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
