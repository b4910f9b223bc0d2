"""The hand-written SAM floor on PyTorch: an eager `train_step(data)`.

Written the way Keras's `TorchTrainer.train_step` is (forward through the
model, gradients from autograd, `optimizer.apply` under `torch.no_grad`),
with `torch.autograd.grad` instead of `backward()` so no `.grad` is left on
the weights between passes.
"""

import keras
import torch

from floor_base import TwoPassSAMBase


class TwoPassSAM(TwoPassSAMBase):
    """The floor with `torch.autograd.grad`: snapshot, assign `w + e`, assign back."""

    def _loss_and_gradients(self, x, y, sample_weight, tensors):
        y_pred = self(x, training=True)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred,
                                 sample_weight=sample_weight, training=True)
        return loss, y_pred, torch.autograd.grad(loss, tensors)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.trainable_variables
        tensors = [v.value for v in variables]
        loss, y_pred, gradients = self._loss_and_gradients(
            x, y, sample_weight, tensors)
        with torch.no_grad():
            norm = torch.sqrt(sum(torch.sum(g * g) for g in gradients))
            scale = self.rho / (norm + 1e-12)
            snapshot = [t.clone() for t in tensors]
            for v, w, g in zip(variables, snapshot, gradients):
                v.assign(w + scale * g)
        _, _, gradients = self._loss_and_gradients(x, y, sample_weight, tensors)
        with torch.no_grad():
            for v, w in zip(variables, snapshot):
                v.assign(w)
            self.optimizer.apply(list(gradients), variables)
        self._loss_tracker.update_state(loss.detach(), sample_weight=x.shape[0])
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
