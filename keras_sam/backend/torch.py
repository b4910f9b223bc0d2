"""PyTorch train step and gradient oracle for `SAMModel`.

PyTorch runs eagerly. Pass 1 runs in a recording `keras.StatelessScope` on
leaf tensors of the weights, `torch.autograd.grad` gives its gradients (no
`.grad` fields are touched), and then what it assigned (BatchNorm
statistics, seeds, RNN states) is written. Each perturbed pass runs the
inner model inside a `keras.StatelessScope` that maps the trainables to
fresh leaf tensors `w + offsets`, so the weights are never written during
the step, and replays PyTorch's global generator (from which an unseeded
`Dropout` draws its masks). The optimizer applies the final gradients under
`torch.no_grad()`, as Keras's own torch train step does. Under an
initialized `torch.distributed` group the final update, the skip decision
and the variants' replica means are all-reduced across the processes.
"""

import keras
import torch
from keras import ops

from keras_sam.backend import batch
from keras_sam.backend import common
from keras_sam.backend import recording


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


class _GlobalGenerator:
    """PyTorch's global random generators, replayed for the perturbed passes.

    Keras's PyTorch backend draws the masks of an unseeded `Dropout`
    (`seed=None`) from PyTorch's global generator, not from the layer's
    seed state. Every perturbed pass starts from the generator's state
    before the clean pass (the clean pass's masks), and the step leaves it
    where the clean pass left it, as a plain Keras step would.
    """

    def __init__(self):
        self.before = self._state()
        self.after = None

    @staticmethod
    def _state():
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        return torch.get_rng_state(), cuda

    @staticmethod
    def _set(state):
        cpu, cuda = state
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)

    def clean_pass_done(self):
        self.after = self._state()

    def replay(self, fn):
        """`fn()` drawing what the clean pass drew; the state stays after it."""
        self._set(self.before)
        try:
            return fn()
        finally:
            self._set(self.after)


def _first_pass(spec):
    """`(raw gradients, loss, aux, probe gradient, state)` of the first pass.

    At `w`, unless the variant asks for first-pass offsets: then at
    `w + offsets`. It runs in a recording scope whose assignments
    (BatchNorm statistics, seeds, RNN states, metrics) are then written
    (`recording.write_back`); `state` pairs each with its value before.
    """
    variant, optimizer = spec.variant, spec.optimizer
    probe = None
    if variant.needs_sample_losses:
        probe = batch.probe(spec).requires_grad_()
    extra = [] if probe is None else [probe]
    offsets = variant.first_pass_offsets(spec.variables)
    with torch.enable_grad():
        # The trained variables are read as leaf tensors (regularizers read
        # them through the scope's mapping).
        if offsets is None:
            sources = [v.value.detach().requires_grad_() for v in spec.variables]
        else:
            common.record_perturbation(spec.recorder, offsets)
            sources = [
                (v.value + o.to(v.value.dtype)).detach().requires_grad_()
                for v, o in zip(spec.variables, offsets)
            ]
        mapping = list(zip(spec.variables, sources))
        scaled_loss, loss, aux, scope = common.forward(
            spec, mapping, sample_scale=probe
        )
        raw = torch.autograd.grad(scaled_loss, sources + extra, allow_unused=True)
    with torch.no_grad():
        written = recording.write_back(spec, scope)
    if probe is None:
        return raw, loss, aux, None, written
    return raw[:-1], loss, aux, raw[-1], written


class _Oracle:
    """Gradients at `w + offsets` for the variant (see tensorflow.py)."""

    def __init__(self, spec, weights, state, unscale, clean_losses, generator):
        self.spec, self.weights, self.state = spec, weights, state
        self.unscale, self.clean_losses = unscale, clean_losses
        self.generator = generator

    def _mapping(self, offsets, grad):
        perturbed = [
            (w + o.to(w.dtype)).detach().requires_grad_(grad)
            for w, o in zip(self.weights, offsets)
        ]
        return perturbed, common.perturbed_mapping(self.spec, perturbed, self.state)

    def __call__(self, offsets, rows=None):
        spec = self.spec
        common.record_perturbation(spec.recorder, offsets)
        with torch.enable_grad():
            perturbed, mapping = self._mapping(offsets, True)
            scaled_loss = self.generator.replay(
                lambda: common.forward(spec, mapping, rows=rows)[0]
            )
            raw = torch.autograd.grad(scaled_loss, perturbed, allow_unused=True)
        perturbed_gradients = _unscaled(raw, self.weights, self.unscale)
        if spec.sync_perturbation:
            # The global batch's gradient, as the clean one.
            perturbed_gradients = mean_over_replicas(perturbed_gradients)
        return perturbed_gradients

    def sample_losses(self, offsets=None):
        """Each sample's loss at `w + offsets`, or the first pass's."""
        if offsets is None:
            return self.clean_losses
        with torch.enable_grad():
            probe = batch.probe(self.spec).requires_grad_()
            mapping = self._mapping(offsets, False)[1]
            scaled_loss = self.generator.replay(
                lambda: common.forward(self.spec, mapping, sample_scale=probe)[0]
            )
            (gradient,) = torch.autograd.grad(scaled_loss, [probe], allow_unused=True)
        return batch.sample_losses(gradient, self.spec.batch_size, self.unscale)


def minimize(spec):
    """One sharpness-aware step: `(loss, aux, perturbed, finite)`."""
    variant, optimizer = spec.variant, spec.optimizer
    with torch.no_grad():
        variant_state = [v.value.clone() for v in variant.state_variables()]
        step = ops.convert_to_tensor(optimizer.iterations).clone()
        learning_rate = ops.convert_to_tensor(optimizer.learning_rate).clone()
        variant.update_hyperparameters(step, learning_rate, optimizer)
        unscale = 1.0 / optimizer.scale_loss(ops.ones((), "float32"))

    # Pass 1: at `w` (or the variant's first-pass offsets); what it assigns
    # (BatchNorm statistics, seeds) is written, as a stateful pass would.
    generator = _GlobalGenerator()
    raw, loss, aux, probe_gradient, written = _first_pass(spec)
    generator.clean_pass_done()
    variables = spec.variables
    loss = loss.detach()
    # No copy: the weights change in place only in `optimizer.apply`, after
    # the last use of `weights`. The state does change in place, so
    # `written` holds copies.
    weights = [v.value.detach() for v in variables]
    has_gradient = [g is not None for g in raw]
    gradients = _unscaled(raw, weights, unscale)
    if spec.sync_perturbation:
        gradients = mean_over_replicas(gradients)
    clean_losses = None
    if variant.needs_sample_losses:
        clean_losses = batch.sample_losses(probe_gradient, spec.batch_size, unscale)
    oracle = _Oracle(spec, weights, written, unscale, clean_losses, generator)
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
        with torch.no_grad():
            common.restore(
                spec, variant_state, [v for v, _ in written], [s for _, s in written]
            )
        common.back_off_loss_scale(optimizer)
    return loss, aux, perturbed, finite
