import numpy as np
import pytest

from keras_sam import variants
from tests import golden, reference


def sam_reference(rho):
    def gradients(ref, batch, step):
        clean, state = ref.clean_gradients(batch)
        offsets = reference.sam_offsets(clean, rho)
        return ref.gradients_at(batch, offsets, state)

    return gradients


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sam_matches_formula(jit_compile, momentum):
    golden.compare_with_reference(
        variants.SAM(rho=0.1),
        sam_reference(0.1),
        jit_compile=jit_compile,
        momentum=momentum,
    )


def test_sam_with_sample_weight_matches_formula():
    sample_weight = np.random.default_rng(3).uniform(0, 2, 64).astype("float32")
    golden.compare_with_reference(
        variants.SAM(rho=0.05),
        sam_reference(0.05),
        jit_compile=False,
        sample_weight=sample_weight,
    )


def test_sam_is_not_plain_gradient_descent():
    # The golden test must be able to fail: the clean gradient is not SAM's.
    def clean_only(ref, batch, step):
        return ref.clean_gradients(batch)[0]

    with pytest.raises(AssertionError, match="relative error"):
        golden.compare_with_reference(
            variants.SAM(rho=0.5), clean_only, jit_compile=False
        )


@pytest.mark.parametrize("rho", [0.0, -1.0, float("nan"), "0.1"])
def test_invalid_rho(rho):
    with pytest.raises(ValueError, match="rho"):
        variants.SAM(rho=rho)


def centralized_sam_reference(rho):
    def gradients(ref, batch, step):
        clean, state = ref.clean_gradients(batch)
        offsets = reference.sam_offsets(reference.centralized(clean), rho)
        return ref.gradients_at(batch, offsets, state)

    return gradients


@pytest.mark.parametrize("jit_compile", [False, True])
def test_centralized_sam_matches_formula(jit_compile):
    # GCSAM: the Dense kernels' gradients lose their per-output-unit means.
    golden.compare_with_reference(
        variants.SAM(rho=0.1, centralize=True), centralized_sam_reference(0.1),
        jit_compile=jit_compile,
    )


def test_centralize_changes_the_direction():
    with pytest.raises(AssertionError, match="relative error"):
        golden.compare_with_reference(
            variants.SAM(rho=0.5, centralize=True), sam_reference(0.5),
            jit_compile=False,
        )


def test_centralize_config_round_trip():
    assert variants.get("sam").get_config() == {"rho": 0.05, "epsilon": 1e-12}
    config = variants.SAM(centralize=True).get_config()
    assert config["centralize"] is True
    assert variants.SAM.from_config(config).centralize is True


@pytest.mark.parametrize("centralize", [1, "True", None])
def test_invalid_centralize(centralize):
    with pytest.raises(ValueError, match="centralize.*True or False"):
        variants.SAM(centralize=centralize)
