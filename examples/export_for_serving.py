"""Train with SAM, export a SavedModel, and serve it without keras_sam.

Trains a small classifier wrapped in `keras_sam.SAMModel` (MNIST-1D by
default, generated offline; or any tfds image dataset such as `mnist` with
`--dataset mnist --data-dir DIR`), writes the inner model's SavedModel with
`model.export(dir)`, then reloads it with `tf.saved_model.load` in a fresh
Python process in which `keras_sam` cannot be imported
(`sys.modules["keras_sam"] = None` before any import) and calls its
`serving_default` signature, as TensorFlow Serving would. It prints the
fraction of test examples whose predicted class (argmax) agrees with
`model.predict` (1.0 expected) and the largest absolute difference of the
logits.

    python examples/export_for_serving.py --export-dir /tmp/sam_serving
    python examples/export_for_serving.py --dataset mnist --data-dir ~/tensorflow_datasets
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_sam  # noqa: E402
from keras_sam_bench import data as sam_data  # noqa: E402

# Runs in a separate interpreter: argv = [export_dir, inputs.npy, outputs.npy].
SERVE_SCRIPT = r"""
import sys
sys.modules["keras_sam"] = None  # any `import keras_sam` now raises ImportError
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf

export_dir, inputs_path, outputs_path = sys.argv[1:4]
loaded = tf.saved_model.load(export_dir)
serve = loaded.signatures["serving_default"]
(input_name,) = serve.structured_input_signature[1].keys()
inputs = np.load(inputs_path)
outputs = serve(**{input_name: tf.constant(inputs)})
(logits,) = outputs.values()
np.save(outputs_path, logits.numpy())
assert "keras_sam" not in {m.split(".")[0] for m, v in sys.modules.items() if v is not None}
"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="mnist1d",
                        help="'mnist1d' (offline) or a tfds image dataset, e.g. 'mnist'")
    parser.add_argument("--data-dir", default=None, help="tfds data directory")
    parser.add_argument("--limit", type=int, default=None,
                        help="total examples (default: 4000 for mnist1d, full tfds splits)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--variant", default="sam")
    parser.add_argument("--export-dir", default=None,
                        help="where to write the SavedModel (default: a temporary directory)")
    parser.add_argument("--no-download", action="store_true",
                        help="fail instead of downloading a missing tfds dataset")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def build_model(input_shape, num_classes):
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(64, use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Dropout(0.1)(x)
    outputs = keras.layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs, name="classifier")


def serve_without_keras_sam(export_dir, inputs):
    """Returns the logits of the SavedModel's `serving_default` for `inputs`,
    computed in a subprocess where keras_sam is unimportable."""
    with tempfile.TemporaryDirectory() as work:
        inputs_path = os.path.join(work, "inputs.npy")
        outputs_path = os.path.join(work, "outputs.npy")
        np.save(inputs_path, inputs)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        completed = subprocess.run(
            [sys.executable, "-c", SERVE_SCRIPT, export_dir, inputs_path, outputs_path],
            env=env, capture_output=True, text=True,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"serving subprocess failed:\n{completed.stderr[-3000:]}")
        return np.load(outputs_path)


def main(argv=None):
    """Returns `{"test_accuracy", "agreement", "max_abs_diff", "export_dir", "history"}`."""
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    limit = args.limit
    if limit is None and args.dataset.lower() == "mnist1d":
        limit = 4000
    data = sam_data.load(args.dataset, data_dir=args.data_dir, num_samples=limit,
                         download=not args.no_download, seed=args.seed)
    if data.kind == "text":
        raise SystemExit("this example takes MNIST-1D or a tfds image dataset")

    model = keras_sam.SAMModel(build_model(data.input_shape, data.num_classes),
                               variant=args.variant)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(data.x_train, data.y_train, epochs=args.epochs,
                        batch_size=args.batch_size, verbose=2)
    scores = model.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)

    export_dir = args.export_dir or tempfile.mkdtemp(prefix="keras_sam_export_")
    model.export(export_dir)
    inputs = data.x_test.astype(np.float32)
    expected = model.predict(inputs, batch_size=args.batch_size, verbose=0)
    served = serve_without_keras_sam(export_dir, inputs)

    agreement = float(np.mean(np.argmax(served, -1) == np.argmax(expected, -1)))
    max_abs_diff = float(np.max(np.abs(served - expected)))
    result = {"test_accuracy": float(scores["accuracy"]), "agreement": agreement,
              "max_abs_diff": max_abs_diff, "export_dir": export_dir}
    print(json.dumps(result))
    result["history"] = history.history
    return result


if __name__ == "__main__":
    main()
