"""What the reference's passes output and what Keras would log from them.

`outputs_at` re-runs a training pass of `reference.ReferenceModel` from a
given state, so its dropout masks and BatchNorm batch statistics are those
of the pass `clean_gradients` took (clean: zero offsets) or of the perturbed
pass (SAM's offsets). The loss and metric values are written out in NumPy
from Keras's documented conventions:

- `SparseCategoricalCrossentropy(from_logits=True)` with the default
  "sum_over_batch_size" reduction: `sum(sample_weight * ce) / batch_size`;
- the epoch "loss" of `fit`: a `keras.metrics.Mean` updated once per step
  with the step's loss and `sample_weight=batch_size`, so the epoch value is
  `sum(batch_size * loss) / sum(batch_size)`;
- compiled `metrics` ignore sample weights, `weighted_metrics` honour them;
  both are means over every sample of the epoch.
"""

import keras
import numpy as np

from tests import reference


def outputs_at(ref, x, offsets, state_before, jit_compile=False):
    """`ref.model(x, training=True)` at `w + offsets` from `state_before`.

    Compiled by XLA if `jit_compile` (TensorFlow draws other dropout masks
    under XLA). Leaves the reference's weights and state as they were.
    """
    weights, state_after = ref.weights, ref.state()
    ref.set_weights([w + o for w, o in zip(weights, offsets)])
    ref.set_state(state_before)
    outputs = keras.ops.convert_to_numpy(_forward(ref, jit_compile)(x))
    ref.set_weights(weights)
    ref.set_state(state_after)
    return np.asarray(outputs, np.float64)


def _forward(ref, jit_compile):
    if not jit_compile or keras.backend.backend() != "tensorflow":
        # JAX draws the same masks with and without jit.
        return lambda x: ref.model(x, training=True)
    if not hasattr(ref, "_xla_forward"):
        import tensorflow as tf

        ref._xla_forward = tf.function(
            lambda x: ref.model(x, training=True), jit_compile=True
        )
    return ref._xla_forward


def cross_entropy(logits, labels):
    """Per-sample sparse categorical cross-entropy of logits (float64)."""
    logits = np.asarray(logits, np.float64)
    top = logits.max(axis=-1, keepdims=True)
    log_norm = np.log(np.sum(np.exp(logits - top), axis=-1)) + top[:, 0]
    return log_norm - logits[np.arange(len(labels)), np.asarray(labels)]


def batch_loss(logits, labels, sample_weight=None):
    """The compiled loss of one batch ("sum_over_batch_size" reduction)."""
    ce = cross_entropy(logits, labels)
    weight = np.ones_like(ce) if sample_weight is None else sample_weight
    return float(np.sum(weight * ce) / len(ce))


class EpochLog:
    """Accumulates per-step outputs; `logs()` is what `fit` reports."""

    def __init__(self):
        self.losses, self.sizes = [], []
        self.labels, self.outputs, self.weights = [], [], []

    def add(self, logits, labels, sample_weight=None):
        """One step (or one replica's part of it) from its pass outputs."""
        labels = np.asarray(labels)
        weight = (np.ones(len(labels)) if sample_weight is None
                  else np.asarray(sample_weight, np.float64))
        self.losses.append(batch_loss(logits, labels, weight))
        self.sizes.append(len(labels))
        self.labels.append(labels)
        self.outputs.append(np.asarray(logits, np.float64))
        self.weights.append(weight)

    def logs(self):
        labels = np.concatenate(self.labels)
        logits = np.concatenate(self.outputs)
        weight = np.concatenate(self.weights)
        ce = cross_entropy(logits, labels)
        sizes = np.asarray(self.sizes, np.float64)
        return {
            "loss": float(np.sum(sizes * self.losses) / np.sum(sizes)),
            # What a tracker weighting every step by 1 would report.
            "loss_per_step": float(np.mean(self.losses)),
            "sparse_categorical_accuracy": float(
                np.mean(np.argmax(logits, axis=-1) == labels)
            ),
            "ce": float(np.mean(ce)),
            "weighted_ce": float(np.sum(weight * ce) / np.sum(weight)),
        }


def metrics():
    """Compile arguments: an accuracy, an unweighted and a weighted mean."""
    return {
        "metrics": [
            "sparse_categorical_accuracy",
            keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="ce"),
        ],
        "weighted_metrics": [
            keras.metrics.SparseCategoricalCrossentropy(
                from_logits=True, name="weighted_ce"
            ),
        ],
    }


def sam_epoch(ref, x, y, sample_weight, batch_size, rho, sgd, split=1,
              jit_compile=False):
    """One epoch of SAM on the reference; returns `(clean, perturbed)` logs.

    `split` replicas each take an equal, contiguous part of every batch,
    form their own perturbation (m-sharpness, the `tf.distribute` default)
    from the same state and the optimizer gets the mean of their perturbed
    gradients (a model without BatchNorm then: the replicas' statistics
    are not averaged here).
    """
    clean, perturbed = EpochLog(), EpochLog()
    for xb, yb, swb in reference.batches(x, y, batch_size, sample_weight):
        assert len(yb) % split == 0, "equal replica parts only"
        part = len(yb) // split
        start = ref.state()
        final = []
        for r in range(split):
            rows = slice(r * part, (r + 1) * part)
            batch = (xb[rows], yb[rows], swb[rows])
            ref.set_state(start)
            gradients, before = ref.clean_gradients(batch)
            offsets = reference.sam_offsets(gradients, rho)
            zeros = [np.zeros_like(g) for g in gradients]
            for log, at in ((clean, zeros), (perturbed, offsets)):
                outputs = outputs_at(ref, batch[0], at, before, jit_compile)
                log.add(outputs, batch[1], batch[2])
            final.append(ref.gradients_at(batch, offsets, before))
        mean = [np.mean(gs, axis=0) for gs in zip(*final)]
        ref.set_weights(sgd.step(ref.weights, mean))
    return clean.logs(), perturbed.logs()
