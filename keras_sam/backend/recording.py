"""What a pass assigns: recorded, written back, or refused when it would be lost.

A pass of the step runs inside a `keras.StatelessScope`, so nothing it
assigns reaches a variable by itself. `RecordingScope` remembers every
variable assigned in it, tracked by the model or not (BatchNorm statistics,
seed states, a stateful RNN's hidden state, per-output loss trackers, a
second optimizer's slots); `write_back` writes the first pass's assignments
as a stateful pass would have; `check_carried` refuses a step whose
assignments a pure step (Keras's JAX trainer) would drop.
"""

import keras
from keras import ops


class RecordingScope(keras.StatelessScope):
    """A `keras.StatelessScope` that remembers every variable assigned in it.

    Keras's scope keeps the new values by variable id only; this one also
    keeps the variables, so that a step can write back everything a pass
    assigned (BatchNorm statistics, seed states, a stateful RNN's hidden
    state, per-output loss trackers), tracked by the model or not.
    """

    def __init__(self, state_mapping=None, collect_losses=False):
        super().__init__(state_mapping=state_mapping, collect_losses=collect_losses)
        self.assigned = {}

    def add_update(self, update):
        super().add_update(update)
        self.assigned.setdefault(id(update[0]), update[0])

    def updates(self):
        """`[(variable, new value)]` for every variable assigned, in order."""
        return [(v, self.state_mapping[id(v)]) for v in self.assigned.values()]


def write_back(spec, scope):
    """Writes everything the first pass assigned; returns what it overwrote.

    The first pass runs in a `RecordingScope` (`forward`), so whatever it
    assigns, tracked by the model or not, is known here and written as a
    stateful pass would have: the step's state is the clean pass's. Returns
    `[(variable, value before the pass)]` for every assigned variable that
    is not trained: the perturbed passes read these values (the same
    dropout masks, BatchNorm statistics and RNN states as the clean pass),
    and a skipped step restores the floating-point ones that are not
    metrics (`restore`).
    """
    updates = scope.updates()
    # Every value before is read before anything is written.
    before = [ops.copy(v.value) for v, _ in updates]
    for variable, value in updates:
        variable.assign(value)
    trained = {id(v) for v in spec.variables}
    return [
        (v, value) for (v, _), value in zip(updates, before) if id(v) not in trained
    ]


def collect(scope, variables, defaults):
    """The scope's value of each variable, or its default if never assigned."""
    values = []
    for variable, default in zip(variables, defaults):
        value = scope.get_current_value(variable)
        values.append(default if value is None else value)
    return values


def run_stateless(fn, variables, values):
    """`fn()` with `variables` read as `values`: `(outputs, new values)`.

    Raises if `fn` assigned a variable outside `variables`: its new value
    would be lost (`check_carried`).
    """
    with RecordingScope(state_mapping=list(zip(variables, values))) as scope:
        outputs = fn()
    check_carried(scope, variables)
    return outputs, collect(scope, variables, values)


def check_carried(scope, variables):
    """Raises unless every variable assigned in `scope` is in `variables`.

    A step that runs as a pure function of some variables (Keras's JAX
    trainer carries the model's, `model.optimizer`'s and the metrics'
    variables from step to step) would silently drop a new value of any
    other variable; keras_sam refuses instead.
    """
    carried = {id(v) for v in variables}
    lost = [v for v in scope.assigned.values() if id(v) not in carried]
    if not lost:
        return
    names = ", ".join(repr(v.path) for v in lost[:8])
    more = f" and {len(lost) - 8} more" if len(lost) > 8 else ""
    raise ValueError(
        "This train step runs as a pure function of the variables Keras's "
        "trainer carries from step to step (the model's trainable and "
        "non-trainable variables, `model.optimizer`'s and the metrics'), "
        f"but it assigned {len(lost)} other variable(s), whose new values "
        f"would be lost after every step: {names}{more}. A second "
        "optimizer (a GAN's) is carried when the model tracks its "
        "variables: build it and keep them on the model before `fit` "
        "(see 'A second optimizer' in docs/using_keras_sam_with.md). A "
        "stateful RNN (`stateful=True`) keeps its state in untracked "
        "variables, which Keras's JAX trainer drops in a plain `fit` too: "
        "use `stateful=False` on JAX, or the TensorFlow or PyTorch backend."
    )
