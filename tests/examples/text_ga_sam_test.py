"""examples/text_ga_sam.py end to end on tfds mock text datasets (never downloads)."""

import numpy as np
import pytest

from tests.examples.helpers import EXAMPLES, help_text, load_example

tfds = pytest.importorskip("tensorflow_datasets")
pytest.importorskip("keras_hub")

SMALL = ["--epochs", "1", "--batch-size", "8", "--limit", "40", "--vocab-size", "200",
         "--sequence-length", "16", "--embedding-dim", "8", "--units", "8"]


def run_on_mock(module, tmp_path, *flags):
    with tfds.testing.mock_data(num_examples=40):
        return module.main(["--data-dir", str(tmp_path), "--no-download", *SMALL, *flags])


def check_result(result, capsys):
    assert 0.0 <= result["test_accuracy"] <= 1.0
    assert np.isfinite(result["test_loss"])
    history = result["history"]
    assert history["sam_fraction"] == [pytest.approx(1.0)]  # ga_sam perturbs every step
    assert history["perturbation_norm"][0] > 0.0
    assert np.isfinite(history["loss"][0]) and np.isfinite(history["val_loss"][0])
    out = capsys.readouterr().out
    assert "test_accuracy=" in out
    return out


def test_help_exits_cleanly(capsys):
    out = help_text("text_ga_sam", capsys)
    assert "--data-dir" in out and "--model" in out


@pytest.mark.slow
def test_trains_transformer_one_epoch_with_ga_sam_on_mock_imdb(tmp_path, capsys):
    module = load_example("text_ga_sam")
    out = check_result(run_on_mock(module, tmp_path), capsys)
    # train 32 + test 8 of --limit 40; the vocabulary came from the mock texts.
    assert "train=32 test=8" in out
    vocabulary_size = int(out.split("vocabulary_size=")[1].split()[0])
    assert len(module.RESERVED_TOKENS) < vocabulary_size <= 200


@pytest.mark.slow  # ~14 s: an LSTM epoch
def test_trains_lstm_on_mock_sst2(tmp_path, capsys):
    module = load_example("text_ga_sam")
    check_result(run_on_mock(module, tmp_path, "--dataset", "glue/sst2", "--model", "lstm"),
                 capsys)


def test_wordpiece_vocabulary_is_learned_from_training_texts():
    module = load_example("text_ga_sam")
    texts = np.array(["the movie was great", "the movie was awful"] * 32, dtype=object)
    tokenizer = module.build_tokenizer(texts, vocab_size=50, sequence_length=8)
    vocabulary = tokenizer.get_vocabulary()
    assert vocabulary[:2] == module.RESERVED_TOKENS
    assert {"movie", "great", "awful"} <= set(vocabulary)
    ids = module.tokenize(tokenizer, np.array(["The MOVIE was great", "zzzz"], dtype=object))
    assert ids.shape == (2, 8) and ids.dtype == np.int32
    assert ids[0, 4:].tolist() == [0] * 4  # padded with the "[PAD]" id
    assert tokenizer.id_to_token(int(ids[0, 1])) == "movie"  # lowercased
    assert ids[1, 0] == tokenizer.token_to_id("[UNK]")  # "z" never occurs in training


def test_transformer_classifier_uses_keras_hub_layers():
    module = load_example("text_ga_sam")
    classifier = module.build_classifier(100, 16, 2, embedding_dim=8, units=8, num_heads=2)
    names = [type(layer).__name__ for layer in classifier.layers]
    assert "TokenAndPositionEmbedding" in names and "TransformerEncoder" in names
    assert classifier.output_shape == (None, 2)
    source = (EXAMPLES / "text_ga_sam.py").read_text()
    assert "TextVectorization" not in source and "from_preset" not in source
