"""`SAMModel` around keras-hub tasks with their preprocessor, built offline."""

import keras
import numpy as np
import pytest

import keras_sam
from keras_sam import variants

keras_hub = pytest.importorskip("keras_hub")

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "movie", "was",
              "great", "bad", "good", "awful", "fun", "plot"]
TEXTS = np.array(["the movie was great", "the plot was bad", "good fun",
                  "awful movie", "great plot", "the movie was awful",
                  "fun fun fun", "bad bad plot"])
LABELS = np.array([1, 0, 1, 0, 1, 0, 1, 0])


def bert_classifier(seed=0):
    """A tiny `BertTextClassifier` from a local vocabulary (no download)."""
    keras.utils.set_random_seed(seed)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=VOCABULARY)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=8
    )
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(VOCABULARY), num_layers=1, num_heads=2,
        hidden_dim=8, intermediate_dim=16, max_sequence_length=8, dropout=0.0,
    )
    return keras_hub.models.BertTextClassifier(
        backbone, num_classes=2, preprocessor=preprocessor, dropout=0.0
    )


def _compiled(model):
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


@pytest.mark.slow  # ~25 s: a keras-hub task trained twice
def test_task_trains_on_raw_strings_as_on_its_preprocessed_inputs():
    task, twin = bert_classifier(), bert_classifier()
    for target, source in zip(twin.variables, task.variables):
        target.assign(np.array(source.numpy()))
    model = _compiled(keras_sam.SAMModel(task, variant=variants.SAM(rho=0.1)))
    history = model.fit(TEXTS, LABELS, batch_size=4, epochs=2, shuffle=False,
                        verbose=0).history
    # The independent route: the task's preprocessor applied by hand, then a
    # plain functional model over the same layers (no pipeline).
    features = twin.preprocessor(TEXTS)
    plain = keras.Model(twin.inputs, twin.outputs)
    reference = _compiled(keras_sam.SAMModel(plain, variant=variants.SAM(rho=0.1)))
    expected = reference.fit(features, LABELS, batch_size=4, epochs=2, shuffle=False,
                             verbose=0).history
    np.testing.assert_allclose(history["loss"], expected["loss"], rtol=1e-5)
    for a, b in zip(task.trainable_variables, twin.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)

    predictions = model.predict(TEXTS, batch_size=4, verbose=0)
    np.testing.assert_allclose(predictions, plain.predict(features, verbose=0),
                               rtol=1e-5, atol=1e-6)
    evaluated = model.evaluate(TEXTS, LABELS, return_dict=True, verbose=0)
    assert set(evaluated) == {"loss", "accuracy"}
    np.testing.assert_allclose(
        evaluated["loss"],
        reference.evaluate(features, LABELS, return_dict=True, verbose=0)["loss"],
        rtol=1e-5,
    )
    on_batch = model.test_on_batch(TEXTS[:4], LABELS[:4], return_dict=True)
    assert np.isfinite(on_batch["loss"])
    np.testing.assert_allclose(model.predict_on_batch(TEXTS[:4]), predictions[:4],
                               rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # ~28 s
def test_task_validation_split_train_on_batch_and_save_load(tmp_path):
    task = bert_classifier()
    model = _compiled(keras_sam.SAMModel(task, variant="look_sam"))
    history = model.fit(TEXTS, LABELS, batch_size=2, epochs=1, validation_split=0.25,
                        verbose=0).history
    assert {"val_loss", "val_accuracy"} <= set(history)
    logs = model.train_on_batch(TEXTS[:4], LABELS[:4], return_dict=True)
    assert logs["sam_fraction"] >= 0 and np.isfinite(logs["loss"])
    path = str(tmp_path / "task.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(TEXTS, verbose=0),
                               model.predict(TEXTS, verbose=0), rtol=1e-5, atol=1e-6)


def test_calling_the_wrapper_on_strings_names_the_fix():
    model = keras_sam.SAMModel(bert_classifier())
    with pytest.raises(ValueError, match="does not apply preprocessing"):
        model(TEXTS[:2])


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="keras-hub's own task.export fails on JAX (symbolic sequence length "
    "in PositionEmbedding) and on torch (dict inputs); SAMModel.export is the "
    "task's export",
)
def test_export_serves_the_task_on_its_preprocessed_inputs(tmp_path):
    tf = pytest.importorskip("tensorflow")
    task = bert_classifier()
    model = _compiled(keras_sam.SAMModel(task))
    model.fit(TEXTS, LABELS, batch_size=4, epochs=1, verbose=0)
    model.export(str(tmp_path / "served"))
    serve = tf.saved_model.load(str(tmp_path / "served")).signatures["serving_default"]
    # The serving signature takes int32 tensors (the padding mask too).
    features = {k: tf.constant(keras.ops.convert_to_numpy(v).astype("int32"))
                for k, v in task.preprocessor(TEXTS).items()}
    (served,) = serve(**features).values()
    np.testing.assert_allclose(served.numpy(), model.predict(TEXTS, verbose=0),
                               rtol=1e-5, atol=1e-6)
