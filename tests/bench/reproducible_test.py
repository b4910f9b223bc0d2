import keras
import numpy as np

from keras_sam_bench import reproducible


def _gru():
    return keras.Sequential([
        keras.Input((5,), dtype="int32"),
        keras.layers.Embedding(30, 8),
        keras.layers.GRU(6),
        keras.layers.Dense(3),
    ])


def test_initialize_depends_on_the_seed_only():
    keras.utils.set_random_seed(1)
    a = _gru()
    reproducible.initialize(a, 0)
    keras.utils.set_random_seed(2)
    b = _gru()
    reproducible.initialize(b, 0)
    c = _gru()
    reproducible.initialize(c, 1)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_initialize_follows_keras_default_distributions():
    model = _gru()
    reproducible.initialize(model, 0)
    weights = {v.path.rsplit("/", 1)[-1] + str(i): v.numpy()
               for i, v in enumerate(model.trainable_variables)}
    embeddings = weights["embeddings0"]
    assert np.abs(embeddings).max() <= 0.05
    recurrent = weights["recurrent_kernel2"]  # (6, 18): orthonormal rows
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(6), atol=1e-5)
    kernel = weights["kernel1"]  # GRU input kernel (8, 18), Glorot uniform
    limit = np.sqrt(6.0 / (8 + 18))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.8 * limit
    assert not np.any(weights["bias3"])  # constants keep Keras's values


def test_epoch_batches_cover_every_row_in_a_new_order_each_epoch():
    x = np.arange(10, dtype="float32")[:, None]
    y = np.arange(10)
    batches = reproducible.EpochBatches(x, y, batch_size=4, seed=0)
    assert len(batches) == 3
    first = np.concatenate([batches[i][1] for i in range(len(batches))])
    batches.on_epoch_end()
    second = np.concatenate([batches[i][1] for i in range(len(batches))])
    assert sorted(first) == sorted(second) == list(range(10))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(batches[0][0][:, 0], batches[0][1])
    again = reproducible.EpochBatches(x, y, batch_size=4, seed=0)
    np.testing.assert_array_equal(again[0][1], first[:4])
