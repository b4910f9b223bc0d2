import numpy as np
import pytest

from keras_sam import variants
from tests import golden, reference


def msam_reference(rho, momentum, epsilon=1e-12):
    """MSAM by hand: the only pass at `w - rho * v / ||v||`, then
    `v <- momentum * v + g`. The pass updates BatchNorm (it is the step's)."""
    velocity = []

    def gradients(ref, batch, step):
        if not velocity:
            velocity.extend(np.zeros_like(w) for w in ref.weights)
        scale = rho / (reference.norm(velocity) + epsilon)
        offsets = [-v * scale for v in velocity]
        g = reference.stateful_gradients_at(ref, batch, offsets)
        velocity[:] = [momentum * v + gi for v, gi in zip(velocity, g)]
        return g

    return gradients


@pytest.mark.parametrize("jit_compile", [False, True])
def test_msam_matches_formula(jit_compile):
    model, _ = golden.compare_with_reference(
        variants.MSAM(rho=0.3, momentum=0.9),
        msam_reference(0.3, 0.9),
        jit_compile=jit_compile,
        steps=5,
    )
    assert model.variant.get_config()["momentum"] == 0.9


def test_msam_with_sample_weight_matches_formula():
    sample_weight = np.random.default_rng(3).uniform(0, 2, 64).astype("float32")
    golden.compare_with_reference(
        variants.MSAM(rho=0.2, momentum=0.5),
        msam_reference(0.2, 0.5),
        jit_compile=False,
        sample_weight=sample_weight,
    )


def test_msam_is_not_plain_gradient_descent():
    def clean_only(ref, batch, step):
        return ref.clean_gradients(batch)[0]

    with pytest.raises(AssertionError, match="relative error"):
        golden.compare_with_reference(
            variants.MSAM(rho=0.5), clean_only, jit_compile=False, steps=4
        )


@pytest.mark.parametrize("momentum", [-0.1, 1.0, float("nan"), "0.9"])
def test_invalid_momentum(momentum):
    with pytest.raises(ValueError, match="momentum"):
        variants.MSAM(momentum=momentum)
