"""PyTorch train step and gradient oracle for `SAMModel`.

PyTorch runs eagerly: pass 1 is the normal stateful forward pass and
`torch.autograd.grad` gives its gradients (no `.grad` fields are touched);
each perturbed pass runs the inner model inside a `keras.StatelessScope` that
maps the trainables to fresh leaf tensors `w + offsets`, so the weights are
never written during the step, and the optimizer applies the final gradients
under `torch.no_grad()`, as Keras's own torch train step does.
"""

import keras
import torch
from keras import ops

from keras_sam.backend import common


def _unscaled(gradients, weights, unscale):
    """Float32 gradients without loss scale; zeros where there is none."""
    return [
        torch.zeros_like(w, dtype=torch.float32)
        if g is None
        else g.to(torch.float32) * unscale
        for g, w in zip(gradients, weights)
    ]


def train_step(model, data):
    """One SAM-family step of `SAMModel` (`model`) on `data`."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    inner, variant, optimizer = model.model, model.variant, model.optimizer
    variables = model.trainable_variables
    with torch.no_grad():
        state = [v.value.clone() for v in inner.non_trainable_variables]
        variant_state = [v.value.clone() for v in variant.state_variables()]
        # No copy: the weights change in place only in `optimizer.apply`,
        # after the last use of `weights`. The state does change in place.
        weights = [v.value.detach() for v in variables]
        step = ops.convert_to_tensor(optimizer.iterations).clone()
        learning_rate = ops.convert_to_tensor(optimizer.learning_rate).clone()
        unscale = 1.0 / optimizer.scale_loss(ops.ones((), "float32"))

    with torch.enable_grad():
        # Pass 1: clean, stateful (BatchNorm statistics and seeds advance).
        y_pred = inner(x, training=True)
        loss = model._compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
        )
        model._loss_tracker.update_state(
            loss.detach(), sample_weight=common.batch_size(x)
        )
        raw = torch.autograd.grad(
            optimizer.scale_loss(loss),
            [v.value for v in variables],
            allow_unused=True,
        )
    has_gradient = [g is not None for g in raw]
    gradients = _unscaled(raw, weights, unscale)

    def oracle(offsets):
        common.record_perturbation(model, offsets)
        with torch.enable_grad():
            perturbed = [
                (w + o.to(w.dtype)).detach().requires_grad_()
                for w, o in zip(weights, offsets)
            ]
            scaled_loss = common.forward(
                model,
                (x, y, sample_weight),
                common.perturbed_mapping(model, perturbed, state),
            )[0]
            raw = torch.autograd.grad(scaled_loss, perturbed, allow_unused=True)
        return _unscaled(raw, weights, unscale)

    update, perturbed = variant.compute_gradients(oracle, gradients, weights, step)
    model.sam_fraction_tracker.update_state(perturbed)

    def apply_fn(final_gradients):
        pairs = [
            (optimizer.scale_loss(g), v)
            for g, v, active in zip(final_gradients, variables, has_gradient)
            if active
        ]
        with torch.no_grad():
            optimizer.apply(*zip(*pairs))

    finite = common.step_is_finite(model, gradients, update)
    if finite:
        variant.apply_gradients(apply_fn, update, variables, learning_rate)
    else:
        common.restore(model, variant_state, state)
        common.back_off_loss_scale(optimizer)
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
