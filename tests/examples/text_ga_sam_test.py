"""examples/text_ga_sam.py end to end on tfds mock imdb_reviews (never downloads)."""

import sys

import numpy as np
import pytest

from tests.examples.helpers import EXAMPLES, load_example

tfds = pytest.importorskip("tensorflow_datasets")


def test_help_exits_cleanly_and_mentions_wordpiece(capsys):
    module = load_example("text_ga_sam")
    with pytest.raises(SystemExit) as info:
        module.main(["--help"])
    assert info.value.code == 0
    assert "--data-dir" in capsys.readouterr().out
    assert "compute_word_piece_vocabulary" in module.__doc__


def test_trains_one_epoch_with_ga_sam_on_mock_imdb(tmp_path, capsys):
    module = load_example("text_ga_sam")
    with tfds.testing.mock_data(num_examples=40):
        result = module.main([
            "--data-dir", str(tmp_path), "--epochs", "1", "--batch-size", "8",
            "--limit", "40", "--vocab-size", "200", "--sequence-length", "16",
            "--embedding-dim", "8", "--units", "4",
        ])
    assert 0.0 <= result["test_accuracy"] <= 1.0
    assert np.isfinite(result["test_loss"])
    history = result["history"]
    assert history["sam_fraction"] == [pytest.approx(1.0)]
    assert history["perturbation_norm"][0] > 0.0
    assert "test_accuracy=" in capsys.readouterr().out


def test_does_not_need_keras_nlp():
    source = (EXAMPLES / "text_ga_sam.py").read_text()
    code = source.split('"""', 2)[2]  # everything after the docstring
    assert "keras_nlp" not in code and "keras_hub" not in code
    load_example("text_ga_sam")
    assert "keras_nlp" not in sys.modules
