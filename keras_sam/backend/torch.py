"""PyTorch primitives of the step (`step.py`), and `SAMModel`'s train step.

PyTorch runs eagerly: gradients come from `torch.autograd.grad` on fresh
leaf tensors (no `.grad` fields are touched, the weights are never written
during the step), branches are Python `if`s, and the optimizer applies the
final gradients under `torch.no_grad()`, as Keras's own torch train step
does. The perturbed passes replay PyTorch's global generator (from which an
unseeded `Dropout` draws its masks). Under an initialized
`torch.distributed` group the final update, the skip decision and the
variants' replica means are all-reduced across the processes.
"""

import keras
import torch


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


def train_step(model, step_fn, data):
    """`step_fn(model, data)`, `SAMModel`'s step."""
    return step_fn(model, data)


def cond(pred, true_fn, false_fn):
    """A Python `if`: PyTorch runs eagerly, branches assign as they run."""
    return keras.ops.cond(pred, true_fn, false_fn)


def agree(finite):
    """Every process takes the same branch: skip if any step is not finite."""
    flag = mean_over_replicas(torch.as_tensor(finite, dtype=torch.float32))
    return bool(flag == 1.0)


class Generator:
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


def value_and_grad(fn, sources):
    """`((value, aux), gradients)` of `fn(sources)` on fresh leaf tensors;
    what is returned holds no autograd graph."""
    leaves = [s.detach().requires_grad_() for s in sources]
    with torch.enable_grad():
        value, aux = fn(leaves)
        gradients = torch.autograd.grad(value, leaves, allow_unused=True)
    aux = keras.tree.map_structure(
        lambda t: t.detach() if isinstance(t, torch.Tensor) else t, aux
    )
    return (value.detach(), aux), list(gradients)


def read(variable):
    """A copy of the variable's value (PyTorch assigns in place)."""
    return keras.ops.convert_to_tensor(variable).detach().clone()


def replicas():
    """Keras's losses are per process: the mean is taken in `apply`."""
    return 1


def apply(optimizer, gradients, variables, count):
    """The base optimizer's update with the mean over `torch.distributed`
    processes, as DistributedDataParallel would (no-op in one process)."""
    del count
    gradients = mean_over_replicas(list(gradients))
    with torch.no_grad():
        optimizer.apply([optimizer.scale_loss(g) for g in gradients], variables)


def step_scope(spec):
    """The step outside autograd: only `value_and_grad` records a graph."""
    del spec
    return torch.no_grad()
