"""IMDB sentiment with a bidirectional LSTM trained by GA-SAM.

Loads `imdb_reviews` from TensorFlow Datasets with `keras_sam.data.load_tfds`,
which tokenizes the reviews with a `keras.layers.TextVectorization` adapted on
the training texts (int ids, 0 = padding), and trains an Embedding +
bidirectional LSTM classifier wrapped in
`keras_sam.SAMModel(..., variant="ga_sam")`, then evaluates on the test split.

keras-nlp users: a WordPiece tokenizer is the drop-in replacement for the
TextVectorization step — build the vocabulary with
`keras_nlp.tokenizers.compute_word_piece_vocabulary(train_texts, vocab_size)`
and tokenize with `keras_nlp.tokenizers.WordPieceTokenizer(vocabulary=...,
sequence_length=...)`; the model and the SAM wrapper stay the same. (This
example does not need keras-nlp.)

    python examples/text_ga_sam.py --data-dir ~/tensorflow_datasets --epochs 3
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402

import keras_sam  # noqa: E402
from keras_sam.data import load_tfds  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None, help="tfds data directory")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None,
                        help="total examples to use (default: full splits)")
    parser.add_argument("--vocab-size", type=int, default=20000)
    parser.add_argument("--sequence-length", type=int, default=200)
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--units", type=int, default=32, help="LSTM units per direction")
    parser.add_argument("--variant", default="ga_sam")
    parser.add_argument("--rho", type=float, default=None,
                        help="perturbation radius (default: the variant's own)")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--no-download", action="store_true",
                        help="fail instead of downloading a missing dataset")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def build_classifier(vocab_size, sequence_length, num_classes, embedding_dim=64, units=32):
    inputs = keras.Input((sequence_length,), dtype="int32")
    x = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True)(inputs)
    x = keras.layers.Bidirectional(keras.layers.LSTM(units))(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs, name="bilstm_classifier")


def main(argv=None):
    """Trains and evaluates; returns `{"test_accuracy", "test_loss", "history"}`."""
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    data = load_tfds("imdb_reviews", data_dir=args.data_dir, num_samples=args.limit,
                     download=not args.no_download, vocab_size=args.vocab_size,
                     sequence_length=args.sequence_length)
    classifier = build_classifier(data.vocab_size, args.sequence_length, data.num_classes,
                                  args.embedding_dim, args.units)
    variant = {"name": args.variant}
    if args.rho is not None:
        variant["rho"] = args.rho
    model = keras_sam.SAMModel(classifier, variant=variant)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(data.x_train, data.y_train, epochs=args.epochs,
                        batch_size=args.batch_size,
                        validation_data=(data.x_test, data.y_test), verbose=2)
    scores = model.evaluate(data.x_test, data.y_test, batch_size=args.batch_size,
                            verbose=0, return_dict=True)
    test_loss, test_accuracy = scores["loss"], scores["accuracy"]
    print(f"test_loss={test_loss:.4f} test_accuracy={test_accuracy:.4f}")
    return {"test_accuracy": float(test_accuracy), "test_loss": float(test_loss),
            "history": history.history}


if __name__ == "__main__":
    main()
