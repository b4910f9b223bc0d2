"""Which rows ESAM's data selection keeps under label noise.

ESAM (Du et al., ICLR 2022) descends, in each step, on the `gamma` share of
the batch whose loss rose most under its perturbation. With noisy labels a
hypothesis is that those are the mislabelled rows. This measures it: ESAM
(the library's defaults: rho 0.05, beta 0.6, gamma 0.5) trains the claims
suite's noisy task (MNIST-1D, 1-D CNN with 64 filters, 30 % symmetric label
noise, SGD + momentum 0.9 at 0.05 with cosine decay over 60 epochs), and at
the end of chosen epochs, on `--batches` training batches, ESAM's own
selection (`ESAM.perturbation`, then `ESAM.kept_rows` of the per-sample
loss increase, from a separate ESAM instance so that training's random
sequence is untouched) is computed at the current weights. For each
checkpoint it reports the share of mislabelled rows among the kept rows
against their share in the batches, and the test accuracy.

    python benchmarks/esam_selection.py --output docs/benchmarks/esam_selection

writes esam_selection.json and esam_selection.md. TensorFlow backend.
"""

import argparse
import json
import os
import shlex
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_sam import SAMModel  # noqa: E402
from keras_sam.variants import ESAM  # noqa: E402
from keras_sam_bench import data, models, render, reproducible, runner  # noqa: E402

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)


def kept_rows(probe, model, x, y):
    """ESAM's selection on batch `(x, y)` at `model`'s current weights."""
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        losses = LOSS(y, model(x, training=False))
        loss = tf.reduce_mean(losses)
    gradients = tape.gradient(loss, variables)
    offsets = probe.perturbation(gradients, variables)
    for v, o in zip(variables, offsets):
        v.assign_add(o)
    perturbed = LOSS(y, model(x, training=False))
    for v, o in zip(variables, offsets):
        v.assign_sub(o)
    return np.asarray(probe.kept_rows(perturbed - losses))


class Probe(keras.callbacks.Callback):
    """At the end of each epoch in `epochs`, ESAM's selection on fixed batches."""

    def __init__(self, inner, x, y_noisy, noisy, dataset, epochs, batches, seed):
        super().__init__()
        self.inner, self.x, self.y, self.noisy = inner, x, y_noisy, noisy
        self.dataset, self.epochs = dataset, set(epochs)
        order = np.random.default_rng(20_000 + seed).permutation(len(y_noisy))
        self.batches = [order[i * 128:(i + 1) * 128] for i in range(batches)]
        self.probe = ESAM(seed=seed)
        self.points = []

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 not in self.epochs:
            return
        kept, seen = [], []
        for rows in self.batches:
            chosen = kept_rows(self.probe, self.inner, self.x[rows], self.y[rows])
            kept.append(self.noisy[rows][chosen])
            seen.append(self.noisy[rows])
        logits = self.inner.predict(self.dataset.x_test, batch_size=1024, verbose=0)
        accuracy = float(np.mean(np.argmax(logits, -1) == self.dataset.y_test))
        self.points.append({
            "epoch": epoch + 1,
            "mislabelled_share_kept": float(np.mean(np.concatenate(kept))),
            "mislabelled_share_batch": float(np.mean(np.concatenate(seen))),
            "test_accuracy": 100.0 * accuracy,
        })


def run(seed, epochs, checkpoints, batches):
    dataset = data.load("mnist1d")
    config = runner.BenchmarkConfig(model="cnn", optimizer="sgd", learning_rate=0.05,
                                    schedule="cosine", label_noise=0.3, epochs=epochs)
    y_noisy = data.symmetric_label_noise(dataset.y_train, config.label_noise,
                                         dataset.num_classes, seed=seed)
    noisy = y_noisy != dataset.y_train
    keras.utils.set_random_seed(seed)
    inner = models.build_model("cnn", dataset)
    reproducible.initialize(inner, seed)
    model = SAMModel(inner, variant=ESAM())
    steps = int(np.ceil(len(y_noisy) / config.batch_size))
    model.compile(optimizer=runner.make_optimizer(config, steps),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    probe = Probe(inner, dataset.x_train, y_noisy, noisy, dataset, checkpoints, batches, seed)
    model.fit(reproducible.EpochBatches(dataset.x_train, y_noisy, config.batch_size, seed),
              epochs=epochs, shuffle=False, verbose=0, callbacks=[probe])
    return probe.points


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--checkpoints", default="1,5,10,20,40,60")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--output", default=None,
                        help="folder for esam_selection.json and .md")
    args = parser.parse_args(argv)
    checkpoints = [int(c) for c in args.checkpoints.split(",")]
    per_seed = [run(seed, args.epochs, checkpoints, args.batches) for seed in range(args.seeds)]
    mean = [{key: float(np.mean([points[i][key] for points in per_seed]))
             for key in per_seed[0][i]} for i in range(len(per_seed[0]))]
    for point in mean:
        point["epoch"] = int(point["epoch"])
    result = {
        "command": shlex.join(["python", "benchmarks/esam_selection.py",
                               *(sys.argv[1:] if argv is None else argv)]),
        "seeds": list(range(args.seeds)), "batches": args.batches,
        "per_seed": per_seed, "mean": mean,
    }
    text = render.marked(os.path.join(args.output or ".", "esam_selection.json"),
                         render.esam_selection(result))
    print(text)
    if args.output:
        os.makedirs(args.output, exist_ok=True)
        stem = os.path.join(args.output, "esam_selection")
        with open(stem + ".json", "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
        with open(stem + ".md", "w") as f:
            f.write(text + "\n")
    return result


if __name__ == "__main__":
    main()
