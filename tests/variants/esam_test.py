import keras
import numpy as np
import pytest

import keras_sam
from keras_sam import variants
from tests import golden, models, reference


def esam_reference(rho, beta, gamma, seed, epsilon=1e-12):
    """ESAM by hand: variables drawn with probability `beta` (the same
    seeded stream as the variant's), `e` on them scaled by `1 / beta`,
    per-sample losses at `w` and `w + e` (forward passes with the first
    pass's masks), and the gradient at `w + e` on the `round(gamma * B)`
    samples whose loss rose most."""
    generator = keras.random.SeedGenerator(seed)
    selected_rows, selected_variables = [], []

    def gradients(ref, batch, step):
        clean, state = ref.clean_gradients(batch)
        draws = _draw(len(clean), generator, ref.jit_compile)
        masked = [g if d < beta else np.zeros_like(g) for g, d in zip(clean, draws)]
        selected_variables.append(int(np.sum(draws < beta)))
        scale = rho / ((reference.norm(masked) + epsilon) * beta)
        offsets = [m * scale for m in masked]
        before = reference.sample_losses_at(ref, batch, [0 * o for o in offsets], state)
        after = reference.sample_losses_at(ref, batch, offsets, state)
        k = max(1, round(gamma * len(before)))
        rows = np.sort(np.argsort(-(after - before), kind="stable")[:k])
        selected_rows.append(rows)
        return ref.gradients_at(reference.rows_of(batch, rows), offsets, state)

    gradients.selected_rows = selected_rows
    gradients.selected_variables = selected_variables
    return gradients


def _draw(count, generator, jit_compile):
    """The variant's uniform draws; compiled as its step is (TensorFlow's XLA
    draws other numbers than its eager kernels)."""
    def draw():
        return keras.random.uniform((count,), seed=generator)

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        draw = tf.function(draw, jit_compile=jit_compile)
    return keras.ops.convert_to_numpy(draw())


@pytest.mark.parametrize("jit_compile", [False, True])
def test_esam_matches_formula(jit_compile):
    expected = esam_reference(0.1, 0.6, 0.5, seed=3)
    model, _ = golden.compare_with_reference(
        variants.ESAM(rho=0.1, beta=0.6, gamma=0.5, seed=3),
        expected,
        jit_compile=jit_compile,
    )
    # Both parts are exercised: some steps perturb only some of the 6
    # variables, and each step keeps half of its 16 rows.
    assert any(0 < n < 6 for n in expected.selected_variables)
    assert [len(rows) for rows in expected.selected_rows] == [8] * 4


def test_esam_with_sample_weight_and_odd_batch_matches_formula():
    sample_weight = np.random.default_rng(3).uniform(0, 2, 60).astype("float32")
    golden.compare_with_reference(
        variants.ESAM(rho=0.05, beta=1.0, gamma=0.3, seed=1),
        esam_reference(0.05, 1.0, 0.3, seed=1),
        jit_compile=False,
        sample_weight=sample_weight,
        steps=4,
        batch_size=15,
    )


@pytest.mark.parametrize("jit_compile", [False, True])
def test_esam_keeps_round_gamma_b_rows_of_a_batch_of_unknown_size(jit_compile):
    # gamma * B = 7.5: round keeps 8 rows where floor would keep 7. A
    # tf.data pipeline without drop_remainder leaves B unknown at trace time.
    expected = esam_reference(0.05, 1.0, 0.5, seed=1)
    golden.compare_with_reference(
        variants.ESAM(rho=0.05, beta=1.0, gamma=0.5, seed=1), expected,
        jit_compile=jit_compile, steps=4, batch_size=15, pipeline=True,
    )
    assert [len(rows) for rows in expected.selected_rows] == [8] * 4


def test_esam_is_not_sam():
    # Selecting rows matters: SAM's full-batch gradient at the same point
    # is far from ESAM's.
    def sam_like(ref, batch, step):
        clean, state = ref.clean_gradients(batch)
        return ref.gradients_at(batch, reference.sam_offsets(clean, 0.1), state)

    with pytest.raises(AssertionError, match="relative error"):
        golden.compare_with_reference(
            variants.ESAM(rho=0.1, beta=1.0, gamma=0.5, seed=3), sam_like,
            jit_compile=False,
        )


@pytest.mark.parametrize(
    "argument,value", [("beta", 0.0), ("beta", 1.5), ("gamma", 0.0),
                       ("gamma", float("nan")), ("seed", 1.5)],
)
def test_invalid_arguments(argument, value):
    with pytest.raises(ValueError, match=argument):
        variants.ESAM(**{argument: value})


def test_esam_inside_a_custom_train_step_says_it_needs_sample_losses():
    variant = variants.ESAM()
    inner = models.bn_dropout_mlp()
    variant.build([v.shape for v in inner.trainable_variables])
    inner.compile(optimizer=keras.optimizers.SGD(0.1), loss=models.sparse_ce())
    x = np.zeros((4, 12), "float32")
    y = np.zeros((4,), "int32")

    def loss_fn():
        return inner.compute_loss(x, y, inner(x, training=True))

    if keras.backend.backend() == "jax":
        pytest.skip("JAX needs a stateful_step-decorated train step for this")
    with pytest.raises(ValueError, match="loss of each sample"):
        variant.minimize(loss_fn, inner)


def test_esam_refuses_a_loss_that_ignores_sample_weights():
    if keras.backend.backend() == "jax":
        pytest.skip("JAX's gradient of an unused input is zeros, not None")

    class Unweighted(keras.Sequential):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                         training=True):
            return keras.ops.mean(keras.ops.square(y_pred))

    inner = Unweighted(models.bn_dropout_mlp().layers)
    inner.build((None, 12))
    model = keras_sam.SAMModel(inner, variant="esam")
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    with pytest.raises(ValueError, match="sample weights"):
        model.fit(np.zeros((8, 12), "float32"), np.zeros((8,)), verbose=0)
