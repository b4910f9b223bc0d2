"""The sharpness-aware step, written once for every backend.

What a step means lives here: the first pass, the gradient oracle the
variant calls, and applying or skipping the update. The perturbed passes
never write to a variable: they run the model inside a
`keras.StatelessScope` that maps each trainable variable to `w + offsets`
and every variable the clean pass assigned (BatchNorm statistics, dropout
seed states, a stateful RNN's hidden state) to its value before the clean
pass. Consequences, all guaranteed by construction:

- the weights after a perturbed pass are exactly the weights before it
  (nothing is added and subtracted; NaN offsets cannot reach a weight);
- BatchNorm statistics are updated by the clean pass only;
- every perturbed pass draws the dropout masks of the clean pass of the same
  step (as the original JAX implementation), while the seed state still
  advances once per step, so masks never repeat across steps;
- add_loss terms and weight regularizers are evaluated at `w + offsets`.
 Each backend module
(`tensorflow.py`, `jax.py`, `torch.py`) supplies only primitives:

- `value_and_grad(fn, sources)`: `fn(sources)` returns `(value, aux)`;
  returns `((value, aux), gradients)`, the gradient of `value` with respect
  to each source (`None` where it does not depend on it, on TensorFlow and
  PyTorch; sparse gradients densified);
- `read(variable)`: the value of a variable (or of a tensor such as an
  optimizer's `iterations` under gradient accumulation), safe to keep while
  the variable is assigned;
- `replicas()`: the replica count Keras's losses divided the loss by;
- `mean_over_replicas(values)`: the all-reduced mean across replicas;
- `apply(optimizer, gradients, variables, count)`: the base optimizer's
  update with the final (unscaled, local mean) gradients;
- `cond(pred, true_fn, false_fn)`: runs the branch `pred` picks, which may
  assign variables and synchronize replicas (the update, or what a skipped
  step restores); every replica must pass the same `pred`;

and, where it needs one (`Primitives` supplies the default otherwise):

- `Generator()`: the random state a perturbed pass replays (PyTorch's
  global generator; default: none, seeds are variables);
- `apply_or_skip(finite, apply, skip)`: `cond` for the update, where it
  needs more (TensorFlow: across replicas under any strategy; default:
  None, `cond` is used);
- `agree(finite)`: makes every replica take the same apply-or-skip branch
  (TensorFlow's replicas, PyTorch's processes: skip if any step is not
  finite; default: None, the step is global);
- `enclosing_mapping()`: the values an inner pass must read for the
  variables of an enclosing pure step (JAX; default: `[]`);
- `step_scope(spec)`: a context the whole step runs in (PyTorch: no
  autograd graph; JAX: checks that the step can be pure; default: none).

`keras_sam.backend.minimize(spec)` runs `minimize` below with the active
backend's `Primitives`.
"""

import contextlib

from keras import ops

from keras_sam.backend import batch
from keras_sam.backend import common
from keras_sam.backend import recording


class NoGenerator:
    """No global random state to replay (TensorFlow, JAX: seeds are variables)."""

    def clean_pass_done(self):
        pass

    def replay(self, fn):
        return fn()


def _no_enclosing_mapping():
    """A pass reads variables statefully: nothing to map."""
    return []


def _no_scope(spec):
    del spec
    return contextlib.nullcontext()


class Primitives:
    """A backend module's primitives, with the defaults of the optional
    ones it does not define (looked up on the module at each use)."""

    DEFAULTS = {"Generator": NoGenerator, "agree": None, "apply_or_skip": None,
                "enclosing_mapping": _no_enclosing_mapping, "step_scope": _no_scope}

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        if hasattr(self._module, name) or name not in self.DEFAULTS:
            return getattr(self._module, name)
        return self.DEFAULTS[name]


def _float32(gradients, weights, unscale):
    """Unscaled float32 gradients; zeros where a variable has none."""
    return [
        ops.zeros(ops.shape(w), "float32") if g is None
        else ops.cast(g, "float32") * unscale
        for g, w in zip(gradients, weights)
    ]


def _shifted(weights, offsets):
    """`w + offsets`, each offset in its weight's dtype."""
    return [w + ops.cast(o, w.dtype) for w, o in zip(weights, offsets)]


def _pass(B, spec, weights, state, rows=None, probe=None, differentiate=True):
    """A training pass at `weights` reading `state`: gradients and outputs.

    Returns `(gradients, probe gradient, loss, aux, scope)`; `scope` records
    what the pass assigned. With `differentiate=False` only the probe's
    gradient is taken (a forward pass for per-sample losses).
    """
    enclosing = B.enclosing_mapping()
    scopes = []

    def fn(sources):
        at = sources[: len(weights)] if differentiate else weights
        sample_scale = sources[-1] if probe is not None else None
        mapping = enclosing + common.perturbed_mapping(spec, at, state)
        scaled, loss, aux, scope = common.forward(
            spec, mapping, rows=rows, sample_scale=sample_scale
        )
        scopes.append(scope)
        return scaled, (loss, aux, [value for _, value in scope.updates()])

    sources = (list(weights) if differentiate else []) + (
        [] if probe is None else [probe]
    )
    (_, (loss, aux, new_values)), gradients = B.value_and_grad(fn, sources)
    # The values of the pass's own trace (JAX) are replaced by its outputs.
    scope = recording.RecordingScope()
    for (variable, _), value in zip(scopes[-1].updates(), new_values):
        scope.add_update((variable, value))
    probe_gradient = gradients[-1] if probe is not None else None
    gradients = gradients[: len(weights)] if differentiate else None
    return gradients, probe_gradient, loss, aux, scope


class Oracle:
    """Gradients of one batch at `w + offsets`, as `Variant`s consume them.

    Holds what the clean pass left: the weights' values, what it assigned
    with its values before (`state`: the perturbed passes read those), the
    factor that turns a scaled per-replica gradient into an unscaled
    float32 one, and the per-sample losses of the clean pass. With
    `sync_perturbation` it returns the replica mean. `rows` restricts a pass
    to some rows of the batch; `sample_losses` gives each sample's loss
    (see `keras_sam/backend/batch.py`).
    """

    def __init__(self, B, spec, weights, state, unscale, clean_losses, generator):
        self.B, self.spec, self.weights, self.state = B, spec, weights, state
        self.unscale, self.clean_losses = unscale, clean_losses
        self.generator = generator

    def __call__(self, offsets, rows=None):
        self.spec.record_perturbation(offsets)
        at = _shifted(self.weights, offsets)
        gradients = self.generator.replay(
            lambda: _pass(self.B, self.spec, at, self.state, rows=rows)[0]
        )
        gradients = _float32(gradients, self.weights, self.unscale)
        if self.spec.sync_perturbation:
            # The global batch's gradient, as the clean one: what the variant
            # keeps from it (LookSAM's cache) is then the same on all replicas.
            gradients = self.B.mean_over_replicas(gradients)
        return gradients

    def sample_losses(self, offsets=None):
        """Each sample's loss at `w + offsets` (a forward pass), or the
        clean pass's with `offsets=None`."""
        if offsets is None:
            return self.clean_losses
        at = _shifted(self.weights, offsets)
        probe_gradient = self.generator.replay(
            lambda: _pass(self.B, self.spec, at, self.state,
                          probe=batch.probe(self.spec), differentiate=False)[1]
        )
        return batch.sample_losses(probe_gradient, self.spec.batch_size, self.unscale)


def minimize(B, spec):
    """One sharpness-aware step on backend `B`: `(loss, aux, perturbed, finite)`."""
    variant, optimizer = spec.variant, spec.optimizer
    # Values read before anything below writes.
    variant_state = [B.read(v) for v in variant.state_variables()]
    step = B.read(optimizer.iterations)
    learning_rate = ops.copy(ops.convert_to_tensor(optimizer.learning_rate))
    variant.update_hyperparameters(step, learning_rate, optimizer)
    count = B.replicas()
    # Per-replica losses are divided by the replica count; undo it together
    # with the loss scale, so variants see the local mean gradient.
    unscale = count / optimizer.scale_loss(ops.ones((), "float32"))
    variables = spec.variables
    weights = [B.read(v) for v in variables]

    # Pass 1: at `w` (or the variant's first-pass offsets). What it assigns
    # (BatchNorm statistics, seeds, RNN states, metrics) is written, as a
    # stateful pass would; the perturbed passes read its values before.
    generator = B.Generator()
    offsets = variant.first_pass_offsets(variables)
    first = weights
    if offsets is not None:
        spec.record_perturbation(offsets)
        first = _shifted(weights, offsets)
    probe = batch.probe(spec) if variant.needs_sample_losses else None
    raw, probe_gradient, loss, aux, scope = _pass(B, spec, first, [], probe=probe)
    written = recording.write_back(spec, scope)
    generator.clean_pass_done()
    clean_losses = None
    if probe is not None:
        clean_losses = batch.sample_losses(probe_gradient, spec.batch_size, unscale)
    # A variable without a gradient gets zeros (norms are unchanged and the
    # variant's per-variable state stays aligned); the optimizer skips it,
    # as Keras does.
    has_gradient = [g is not None for g in raw]
    gradients = _float32(raw, weights, unscale)
    if spec.sync_perturbation:
        gradients = B.mean_over_replicas(gradients)

    oracle = Oracle(B, spec, weights, written, unscale, clean_losses, generator)
    update, perturbed = variant.compute_gradients(oracle, gradients, weights, step)

    def apply_fn(final_gradients):
        pairs = [(g, v) for g, v, active in zip(final_gradients, variables, has_gradient)
                 if active]
        B.apply(optimizer, [g for g, _ in pairs], [v for _, v in pairs], count)

    state_variables = [v for v, _ in written]
    state = [value for _, value in written]

    # Each replica runs its own branch over its own tensors (see `cond`).
    # A branch returns a flag: XLA keeps a conditional without outputs as a
    # real conditional, where with one it fuses both branches into selects;
    # without, SAM's and ESAM's steps under XLA were slower (TensorFlow, CPU:
    # `python benchmarks/compare_step_time.py docs/benchmarks/apply_or_skip/no_output`;
    # `tests/xla_conditional_test.py`).
    def apply():
        variant.apply_gradients(apply_fn, update, variables, learning_rate)
        return ops.convert_to_tensor(True)

    def skip():
        common.restore(spec, variant_state, state_variables, state)
        common.back_off_loss_scale(optimizer)
        return ops.convert_to_tensor(False)

    finite = common.step_is_finite(gradients, update, agree=B.agree)
    (B.apply_or_skip or B.cond)(finite, apply, skip)
    return loss, aux, perturbed, finite
