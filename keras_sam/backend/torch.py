"""PyTorch train step and gradient oracle for `SAMModel`.

PyTorch runs eagerly: pass 1 is the normal stateful forward pass and
`torch.autograd.grad` gives its gradients (no `.grad` fields are touched);
each perturbed pass runs the inner model inside a `keras.StatelessScope` that
maps the trainables to fresh leaf tensors `w + offsets`, so the weights are
never written during the step, and the optimizer applies the final gradients
under `torch.no_grad()`, as Keras's own torch train step does. Under an
initialized `torch.distributed` group the final update, the skip decision
and the variants' replica means are all-reduced across the processes.
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


def _world_size():
    """Processes of an initialized `torch.distributed` group, else 1."""
    distributed = torch.distributed
    if distributed.is_available() and distributed.is_initialized():
        return distributed.get_world_size()
    return 1


def mean_over_replicas(values):
    """The mean over `torch.distributed` processes (a tensor or a list)."""
    world = _world_size()
    if world == 1:
        return values
    single = not isinstance(values, (list, tuple))
    means = []
    for value in [values] if single else values:
        total = torch.as_tensor(value).clone()
        torch.distributed.all_reduce(total)
        means.append(total / world)
    return means[0] if single else means


def train_step(model, data):
    """One SAM-family step of `SAMModel` (`model`) on `data`."""
    return common.sam_model_step(model, data, minimize)


def _all_finite(finite):
    """Every process takes the same branch: skip if any step is not finite."""
    flag = mean_over_replicas(torch.as_tensor(finite, dtype=torch.float32))
    return bool(flag == 1.0)


def minimize(spec):
    """One sharpness-aware step: `(loss, aux, perturbed, finite)`."""
    variant, optimizer = spec.variant, spec.optimizer
    with torch.no_grad():
        state = [v.value.clone() for v in spec.state_variables]
        variant_state = [v.value.clone() for v in variant.state_variables()]
        step = ops.convert_to_tensor(optimizer.iterations).clone()
        learning_rate = ops.convert_to_tensor(optimizer.learning_rate).clone()
        variant.update_hyperparameters(step, learning_rate, optimizer)
        unscale = 1.0 / optimizer.scale_loss(ops.ones((), "float32"))

    with torch.enable_grad():
        # Pass 1: clean, stateful (BatchNorm statistics and seeds advance).
        loss, aux = common.loss_and_aux(spec.loss_fn())
        variables = spec.variables
        raw = torch.autograd.grad(
            optimizer.scale_loss(loss),
            [v.value for v in variables],
            allow_unused=True,
        )
    loss = loss.detach()
    # No copy: the weights change in place only in `optimizer.apply`, after
    # the last use of `weights`. The state does change in place.
    weights = [v.value.detach() for v in variables]
    has_gradient = [g is not None for g in raw]
    gradients = _unscaled(raw, weights, unscale)
    if spec.sync_perturbation:
        gradients = mean_over_replicas(gradients)

    def oracle(offsets):
        common.record_perturbation(spec.recorder, offsets)
        with torch.enable_grad():
            perturbed = [
                (w + o.to(w.dtype)).detach().requires_grad_()
                for w, o in zip(weights, offsets)
            ]
            scaled_loss = common.forward(
                spec, common.perturbed_mapping(spec, perturbed, state)
            )[0]
            raw = torch.autograd.grad(scaled_loss, perturbed, allow_unused=True)
        perturbed_gradients = _unscaled(raw, weights, unscale)
        if spec.sync_perturbation:
            # The global batch's gradient, as the clean one above.
            perturbed_gradients = mean_over_replicas(perturbed_gradients)
        return perturbed_gradients

    update, perturbed = variant.compute_gradients(oracle, gradients, weights, step)

    def apply_fn(final_gradients):
        # Under torch.distributed every process applies the mean update, as
        # DistributedDataParallel would (no-op in a single process).
        final_gradients = mean_over_replicas(list(final_gradients))
        pairs = [
            (optimizer.scale_loss(g), v)
            for g, v, active in zip(final_gradients, variables, has_gradient)
            if active
        ]
        with torch.no_grad():
            optimizer.apply(*zip(*pairs))

    finite = common.step_is_finite(spec.recorder, gradients, update, agree=_all_finite)
    if finite:
        variant.apply_gradients(apply_fn, update, variables, learning_rate)
    else:
        common.restore(spec, variant_state, state)
        common.back_off_loss_scale(optimizer)
    return loss, aux, perturbed, finite
