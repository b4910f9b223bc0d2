import numpy as np
import pytest

from keras_sam import variants
from tests import golden, reference
from tests.switching import dot


def gsam_combination(clean, perturbed, alpha, epsilon=1e-12):
    """GSAM's direction in NumPy (float64): `g_p - alpha * g_orth`."""
    clean_norm, perturbed_norm = reference.norm(clean), reference.norm(perturbed)
    cosine = dot(clean, perturbed) / (clean_norm * perturbed_norm + epsilon)
    along = cosine * clean_norm / (perturbed_norm + epsilon)
    return [g_p - alpha * (g - along * g_p) for g, g_p in zip(clean, perturbed)]


def gsam_reference(rho, alpha):
    def gradients(ref, batch, step):
        clean, state = ref.clean_gradients(batch)
        perturbed = ref.gradients_at(
            batch, reference.sam_offsets(clean, rho), state
        )
        return gsam_combination(clean, perturbed, alpha)

    return gradients


@pytest.mark.parametrize("jit_compile", [False, True])
def test_gsam_matches_formula(jit_compile):
    golden.compare_with_reference(
        variants.GSAM(rho=0.1, alpha=0.8), gsam_reference(0.1, 0.8),
        jit_compile=jit_compile,
    )


def test_gsam_with_sample_weight_matches_formula():
    sample_weight = np.random.default_rng(3).uniform(0, 2, 64).astype("float32")
    golden.compare_with_reference(
        variants.GSAM(rho=0.1, alpha=0.4), gsam_reference(0.1, 0.4),
        jit_compile=False, sample_weight=sample_weight,
    )


def test_gsam_is_not_sam():
    # The golden test must be able to fail: alpha = 0 (SAM) misses alpha = 2.
    with pytest.raises(AssertionError, match="relative error"):
        golden.compare_with_reference(
            variants.GSAM(rho=0.1, alpha=2.0), gsam_reference(0.1, 0.0),
            jit_compile=False,
        )


def test_alpha_zero_is_sam():
    from tests.variants.sam_test import sam_reference

    golden.compare_with_reference(
        variants.GSAM(rho=0.1, alpha=0.0), sam_reference(0.1),
        jit_compile=False,
    )


def test_orthogonal_part_is_orthogonal_to_the_perturbed_gradient():
    # The reference itself: g_orth has no component along g_p.
    rng = np.random.default_rng(0)
    clean = [rng.normal(size=(3, 2)), rng.normal(size=4)]
    perturbed = [rng.normal(size=(3, 2)), rng.normal(size=4)]
    orth = [
        (g_p - d) for g_p, d in zip(perturbed, gsam_combination(clean, perturbed, 1.0))
    ]
    assert abs(dot(orth, perturbed)) < 1e-9 * reference.norm(perturbed) ** 2


@pytest.mark.parametrize(
    "kwargs", [{"alpha": -0.1}, {"alpha": float("nan")}, {"alpha": "0.4"},
               {"rho": 0.0}, {"epsilon": -1.0}],
)
def test_invalid_arguments(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        variants.GSAM(**kwargs)


def test_gsam_registered_with_defaults():
    assert variants.get("gsam").get_config() == {
        "rho": 0.05, "epsilon": 1e-12, "alpha": 0.4,
    }
    variant = variants.GSAM(rho=0.2, alpha=0.1)
    restored = variants.GSAM.from_config(variant.get_config())
    assert restored.get_config() == variant.get_config()
