import keras
import numpy as np
import pytest

from keras_sam_bench import models
from keras_sam_bench.data import Dataset


def _dataset(kind, shape, classes=4, n=6):
    rng = np.random.default_rng(0)
    if kind == "text":
        x = rng.integers(0, 50, size=(n, *shape)).astype("int32")
    else:
        x = rng.random(size=(n, *shape)).astype("float32")
    y = rng.integers(0, classes, size=n)
    return Dataset("toy", x, y, x, y, num_classes=classes, kind=kind,
                   vocab_size=50 if kind == "text" else None)


@pytest.mark.parametrize("name", models.MODELS)
@pytest.mark.parametrize(
    "kind,shape", [("sequence", (40,)), ("image", (16, 16, 3)), ("text", (20,))]
)
def test_every_model_gives_logits_for_every_kind(name, kind, shape):
    dataset = _dataset(kind, shape)
    model = models.build_model(name, dataset)
    logits = model(dataset.x_train, training=False)
    assert tuple(logits.shape) == (6, 4)
    assert model.name == name


def test_auto_picks_by_kind():
    assert models.build_model("auto", _dataset("sequence", (40,))).name == "cnn"
    assert models.build_model("auto", _dataset("image", (8, 8, 1))).name == "resnet"
    assert models.build_model("auto", _dataset("text", (10,))).name == "gru"


def test_resnet_uses_batch_norm_and_2d_convolutions_on_images():
    model = models.build_model("resnet", _dataset("image", (16, 16, 3)))
    layers = [type(layer).__name__ for layer in model.layers]
    assert "BatchNormalization" in layers and "Conv2D" in layers and "Add" in layers
    assert model.non_trainable_variables  # BatchNorm moving statistics


def test_cnn_on_mnist1d_is_small_and_strided():
    model = models.build_model("cnn", _dataset("sequence", (40,), classes=10))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv1D)]
    assert [c.strides[0] for c in convs] == [2, 2, 2]
    assert model.count_params() < 50_000


def test_unknown_model_is_rejected():
    with pytest.raises(ValueError, match="unknown model 'mlp'"):
        models.build_model("mlp", _dataset("sequence", (40,)))
