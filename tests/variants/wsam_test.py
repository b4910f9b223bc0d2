import keras
import numpy as np
import pytest

from keras_sam import variants
from tests import golden, models, reference


def wsam_reference(rho, gamma, decoupled):
    """WSAM (Yue et al., KDD 2023) in NumPy: decoupled `(g, alpha * (g~ - g))`,
    coupled `g + alpha * (g~ - g)`."""
    alpha = gamma / (1.0 - gamma)

    def gradients(ref, batch, step):
        clean, state = ref.clean_gradients(batch)
        offsets = reference.sam_offsets(clean, rho)
        perturbed = ref.gradients_at(batch, offsets, state)
        sharpness = [alpha * (p - g) for g, p in zip(clean, perturbed)]
        if decoupled:
            return clean, sharpness
        return [g + s for g, s in zip(clean, sharpness)]

    return gradients


def clean_only(ref, batch, step):
    return ref.clean_gradients(batch)[0]


@pytest.mark.parametrize("jit_compile", [False, True])
def test_coupled_wsam_matches_formula(jit_compile):
    golden.compare_with_reference(
        variants.WSAM(rho=0.1, gamma=0.8, decoupled=False),
        wsam_reference(0.1, 0.8, decoupled=False),
        jit_compile=jit_compile,
    )


@pytest.mark.parametrize("jit_compile", [False, True])
def test_decoupled_wsam_matches_formula_with_a_schedule(jit_compile):
    # The rate halves every step: a term scaled by the initial (or the next)
    # rate instead of this step's would miss the reference.
    schedule = keras.optimizers.schedules.ExponentialDecay(0.2, 1, 0.5)
    golden.compare_with_reference(
        variants.WSAM(rho=0.1, gamma=0.9),
        wsam_reference(0.1, 0.9, decoupled=True),
        jit_compile=jit_compile,
        learning_rate=schedule,
    )


def test_decoupled_is_not_coupled():
    # With momentum the two modes differ: the golden test can tell them apart.
    with pytest.raises(AssertionError, match="relative error"):
        golden.compare_with_reference(
            variants.WSAM(rho=0.1, gamma=0.8, decoupled=True),
            wsam_reference(0.1, 0.8, decoupled=False),
            jit_compile=False,
        )


def test_gamma_half_coupled_is_sam():
    def sam(ref, batch, step):
        clean, state = ref.clean_gradients(batch)
        return ref.gradients_at(batch, reference.sam_offsets(clean, 0.1), state)

    def same_model():
        keras.utils.set_random_seed(7)
        return models.bn_dropout_mlp()

    model, _ = golden.compare_with_reference(
        variants.WSAM(rho=0.1, gamma=0.5, decoupled=False), sam,
        jit_compile=False, model_fn=same_model,
    )
    sam_model, _ = golden.compare_with_reference(
        variants.SAM(rho=0.1), sam, jit_compile=False, model_fn=same_model
    )
    for a, b in zip(model.model.trainable_variables,
                    sam_model.model.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("decoupled", [False, True])
def test_gamma_zero_is_the_base_optimizer(decoupled):
    golden.compare_with_reference(
        variants.WSAM(rho=0.1, gamma=0.0, decoupled=decoupled), clean_only,
        jit_compile=False,
    )


def test_wsam_is_not_the_base_optimizer():
    with pytest.raises(AssertionError, match="relative error"):
        golden.compare_with_reference(
            variants.WSAM(rho=0.1, gamma=0.8), clean_only, jit_compile=False
        )


def test_one_oracle_call_per_step():
    calls = golden.oracle_calls_per_step(variants.WSAM, jit_compile=False)
    assert calls == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [{"gamma": 1.0}, {"gamma": -0.1}, {"gamma": float("nan")}, {"rho": 0.0},
     {"decoupled": "yes"}, {"epsilon": -1.0}],
)
def test_invalid_arguments(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        variants.WSAM(**kwargs)
