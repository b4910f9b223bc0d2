"""Text classification (IMDB or SST-2) with a keras-hub Transformer trained by GA-SAM.

Loads the raw texts and labels of `imdb_reviews` (or `glue/sst2`) with
`tfds.load`, learns a WordPiece vocabulary from the training texts with
`keras_hub.tokenizers.compute_word_piece_vocabulary` (no preset download),
tokenizes with `keras_hub.tokenizers.WordPieceTokenizer` (id 0 = "[PAD]"), and
trains a `keras_hub.layers.TokenAndPositionEmbedding` +
`keras_hub.layers.TransformerEncoder` + average pooling classifier (or, with
`--model lstm`, an Embedding + bidirectional LSTM) wrapped in
`keras_sam.SAMModel(..., variant="ga_sam")`, then evaluates on the test split.

Needs `pip install keras-nlp tensorflow-datasets` (`keras-sam[examples]`);
keras-nlp installs keras-hub, its maintained name, which this example imports.

    python examples/text_ga_sam.py --data-dir ~/tensorflow_datasets --epochs 3
"""

import argparse
import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402

import keras_sam  # noqa: E402

# tfds name -> (text feature, evaluation split); both are binary (NUM_CLASSES),
# and SST-2's test labels are hidden, so it is evaluated on its validation split.
DATASETS = {"imdb_reviews": ("text", "test"), "glue/sst2": ("sentence", "validation")}
NUM_CLASSES = 2
RESERVED_TOKENS = ["[PAD]", "[UNK]"]  # "[PAD]" gets id 0, the padding id
# TokenAndPositionEmbedding re-attaches the padding mask; this warning is spurious.
warnings.filterwarnings("ignore", message="Layer 'position_embedding'")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="imdb_reviews")
    parser.add_argument("--data-dir", default=None, help="tfds data directory")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None,
                        help="total examples to use, 80%% train / 20%% test "
                             "(default: full splits)")
    parser.add_argument("--model", choices=["transformer", "lstm"], default="transformer")
    parser.add_argument("--vocab-size", type=int, default=20000)
    parser.add_argument("--sequence-length", type=int, default=200)
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--units", type=int, default=64,
                        help="Transformer feed-forward width, or LSTM units per direction")
    parser.add_argument("--num-heads", type=int, default=2)
    parser.add_argument("--variant", default="ga_sam")
    parser.add_argument("--rho", type=float, default=None,
                        help="perturbation radius (default: the variant's own)")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--no-download", action="store_true",
                        help="fail instead of downloading a missing dataset")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def load_texts(name, split, count, data_dir, download):
    """Returns `(texts, labels)` of a tfds split as a string and an int32 array."""
    text_key, _ = DATASETS[name]
    dataset = tfds.load(name, split=split, data_dir=data_dir, download=download,
                        shuffle_files=False)
    if count is not None:
        dataset = dataset.take(count)
    texts, labels = [], []
    for example in tfds.as_numpy(dataset):
        texts.append(example[text_key])
        labels.append(example["label"])
    return np.array(texts, dtype=object), np.array(labels, dtype=np.int32)


def build_tokenizer(train_texts, vocab_size, sequence_length):
    """A WordPiece tokenizer whose vocabulary is learned from `train_texts`."""
    vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
        tf.data.Dataset.from_tensor_slices(train_texts).batch(1024), vocab_size,
        lowercase=True, strip_accents=True, reserved_tokens=RESERVED_TOKENS)
    return keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=vocabulary, sequence_length=sequence_length,
        lowercase=True, strip_accents=True, oov_token="[UNK]")


def tokenize(tokenizer, texts):
    batches = tf.data.Dataset.from_tensor_slices(texts).batch(1024).map(tokenizer)
    return np.concatenate(list(batches.as_numpy_iterator())).astype(np.int32)


def build_classifier(vocab_size, sequence_length, num_classes, embedding_dim=64,
                     units=64, num_heads=2, model="transformer"):
    inputs = keras.Input((sequence_length,), dtype="int32")
    if model == "transformer":
        x = keras_hub.layers.TokenAndPositionEmbedding(
            vocab_size, sequence_length, embedding_dim, mask_zero=True)(inputs)
        x = keras_hub.layers.TransformerEncoder(units, num_heads, dropout=0.1)(x)
        x = keras.layers.GlobalAveragePooling1D()(x)
    else:
        x = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True)(inputs)
        x = keras.layers.Bidirectional(keras.layers.LSTM(units))(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs, name=f"{model}_classifier")


def main(argv=None):
    """Trains and evaluates; returns `{"test_accuracy", "test_loss", "history"}`."""
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    n_train = n_test = None
    if args.limit is not None:
        n_train = max(1, round(0.8 * args.limit))
        n_test = max(1, args.limit - n_train)
    load = dict(data_dir=args.data_dir, download=not args.no_download)
    train_texts, y_train = load_texts(args.dataset, "train", n_train, **load)
    test_texts, y_test = load_texts(args.dataset, DATASETS[args.dataset][1], n_test, **load)
    tokenizer = build_tokenizer(train_texts, args.vocab_size, args.sequence_length)
    x_train, x_test = tokenize(tokenizer, train_texts), tokenize(tokenizer, test_texts)
    print(f"vocabulary_size={tokenizer.vocabulary_size()} train={len(x_train)} "
          f"test={len(x_test)}")
    classifier = build_classifier(tokenizer.vocabulary_size(), args.sequence_length,
                                  NUM_CLASSES, args.embedding_dim, args.units,
                                  args.num_heads, args.model)
    variant = {"name": args.variant}
    if args.rho is not None:
        variant["rho"] = args.rho
    model = keras_sam.SAMModel(classifier, variant=variant)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                        validation_data=(x_test, y_test), verbose=2)
    scores = model.evaluate(x_test, y_test, batch_size=args.batch_size,
                            verbose=0, return_dict=True)
    test_loss, test_accuracy = scores["loss"], scores["accuracy"]
    print(f"test_loss={test_loss:.4f} test_accuracy={test_accuracy:.4f}")
    return {"test_accuracy": float(test_accuracy), "test_loss": float(test_loss),
            "history": history.history}


if __name__ == "__main__":
    main()
