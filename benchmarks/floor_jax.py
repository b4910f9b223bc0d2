"""The hand-written SAM floor on JAX: a pure `train_step(state, data)`.

Written the way Keras's `JAXTrainer.train_step` is: `jax.value_and_grad` of
Keras's own stateless pass (`compute_loss_and_updates`, the pass ERM's step
differentiates), twice, then `optimizer.stateless_apply`. JAX values are
immutable, so the perturbed weights are a new list and "restoring" them is
keeping the unperturbed list: exact by construction.
"""

import jax
import jax.numpy as jnp
import keras

from floor_base import TwoPassSAMBase


class TwoPassSAM(TwoPassSAMBase):
    """The floor as a pure step: the perturbed weights are a new list."""

    def train_step(self, state, data):
        trainable, non_trainable, optimizer_variables, metrics_variables = state
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)

        def loss_and_gradients(weights, non_trainable):
            (_, aux), gradients = grad_fn(
                weights, non_trainable, metrics_variables, x, y, sample_weight,
                training=True, optimizer_variables=optimizer_variables)
            return aux, gradients

        (loss, y_pred, non_trainable, _), gradients = loss_and_gradients(
            trainable, non_trainable)
        norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in gradients))
        scale = self.rho / (norm + 1e-12)
        perturbed = [w + scale * g for w, g in zip(trainable, gradients)]
        (_, _, non_trainable, _), gradients = loss_and_gradients(
            perturbed, non_trainable)
        trainable, optimizer_variables = self.optimizer.stateless_apply(
            optimizer_variables, gradients, trainable)

        # As JAXTrainer._update_metrics_variables: metrics in a StatelessScope.
        mapping = list(zip(self.metrics_variables, metrics_variables))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            self._loss_tracker.update_state(loss, sample_weight=x.shape[0])
            logs = self.compute_metrics(x, y, y_pred, sample_weight)
        metrics_variables = [
            ref.value if scope.get_current_value(ref) is None
            else scope.get_current_value(ref)
            for ref in self.metrics_variables
        ]
        return logs, (trainable, non_trainable, optimizer_variables,
                      metrics_variables)
