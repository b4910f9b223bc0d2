"""CIFAR-10 with a small ResNet trained by SAM (keras_sam.SAMModel).

Loads CIFAR-10 from TensorFlow Datasets (`keras_sam_bench.data.load_tfds`), augments
the training images in the `tf.data` pipeline with Keras preprocessing layers
(random horizontal flip + random translation, i.e. pad-and-crop), trains a
small ResNet with BatchNormalization wrapped in
`keras_sam.SAMModel`, with SGD + momentum and a cosine learning-rate decay,
and evaluates on the test split.

    python examples/cifar10_resnet.py --data-dir ~/tensorflow_datasets \
        --epochs 30 --batch-size 128 --variant sam --rho 0.05

`--limit N` uses only N examples (0.8 N train, 0.2 N test) for a quick run.
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_sam  # noqa: E402
from keras_sam_bench.data import load_tfds  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None, help="tfds data directory")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--limit", type=int, default=None,
                        help="total examples to use (default: full splits)")
    parser.add_argument("--variant", default="sam",
                        help="keras_sam variant id (sam, asam, wsam, ga_sam, ...)")
    parser.add_argument("--rho", type=float, default=None,
                        help="perturbation radius (default: the variant's own)")
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--width", type=int, default=16, help="filters of the first stage")
    parser.add_argument("--blocks", type=int, default=1, help="residual blocks per stage")
    parser.add_argument("--no-download", action="store_true",
                        help="fail instead of downloading a missing dataset")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def residual_block(x, filters, stride):
    shortcut = x
    y = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.ReLU()(y)
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = keras.layers.BatchNormalization()(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, strides=stride, use_bias=False)(shortcut)
        shortcut = keras.layers.BatchNormalization()(shortcut)
    return keras.layers.ReLU()(keras.layers.Add()([y, shortcut]))


def build_resnet(input_shape=(32, 32, 3), num_classes=10, width=16, blocks=1):
    """A small ResNet (3 stages of `blocks` residual blocks) returning logits."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    for stage, filters in enumerate((width, 2 * width, 4 * width)):
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            x = residual_block(x, filters, stride)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs, name="small_resnet")


def make_datasets(data, batch_size, seed):
    # Called one by one (not wrapped in a Sequential), Keras's preprocessing
    # layers run inside tf.data on every backend, not only TensorFlow.
    augment = [
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomTranslation(0.125, 0.125, fill_mode="reflect", seed=seed),
    ]

    @tf.autograph.experimental.do_not_convert
    def augment_batch(x, y):
        for layer in augment:
            x = layer(x, training=True)
        return x, y

    train = (
        tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train))
        .shuffle(len(data.y_train), seed=seed)
        .batch(batch_size)
        .map(augment_batch, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    test = tf.data.Dataset.from_tensor_slices((data.x_test, data.y_test)).batch(batch_size)
    return train, test


def main(argv=None):
    """Trains and evaluates; returns `{"test_accuracy", "test_loss", "history"}`."""
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    data = load_tfds("cifar10", data_dir=args.data_dir, num_samples=args.limit,
                     download=not args.no_download)
    train, test = make_datasets(data, args.batch_size, args.seed)

    resnet = build_resnet(data.input_shape, data.num_classes, args.width, args.blocks)
    variant = {"name": args.variant}
    if args.rho is not None:
        variant["rho"] = args.rho
    model = keras_sam.SAMModel(resnet, variant=variant)
    steps_per_epoch = -(-len(data.y_train) // args.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(
        args.learning_rate, decay_steps=max(1, args.epochs * steps_per_epoch))
    model.compile(
        optimizer=keras.optimizers.SGD(schedule, momentum=args.momentum, nesterov=True),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(train, epochs=args.epochs, validation_data=test, verbose=2)
    scores = model.evaluate(test, verbose=0, return_dict=True)
    test_loss, test_accuracy = scores["loss"], scores["accuracy"]
    print(f"test_loss={test_loss:.4f} test_accuracy={test_accuracy:.4f}")
    return {"test_accuracy": float(test_accuracy), "test_loss": float(test_loss),
            "history": history.history}


if __name__ == "__main__":
    main()
