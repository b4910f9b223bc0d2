import numpy as np
import pytest

from keras_sam import variants
from tests import golden, reference, switching

STEPS = 8


def ae_sam_reference(rho, switch):
    def gradients(ref, batch, step):
        clean, state = ref.clean_gradients(batch)
        if not switch(clean, step):
            return clean
        offsets = reference.sam_offsets(clean, rho)
        return ref.gradients_at(batch, offsets, state)

    return gradients


@pytest.mark.parametrize("jit_compile", [False, True])
def test_ae_sam_matches_formula(jit_compile):
    # T is learned from fit (1 epoch of STEPS steps), as for any user.
    arguments = dict(delta=0.8, lambda_1=-0.5, lambda_2=1.0)
    switch = switching.AdaptiveSwitch(**arguments, total_steps=STEPS)
    variant = switching.instrumented(variants.AESAM, steps=STEPS)(
        rho=0.1, **arguments
    )
    golden.compare_with_reference(
        variant, ae_sam_reference(0.1, switch), jit_compile=jit_compile,
        steps=STEPS,
    )
    assert variant.policy.total_steps.numpy() == STEPS
    # Both kinds of step occur, and each decision is the reference's: a
    # step that does not perturb runs no second pass.
    assert True in switch.decisions and False in switch.decisions
    np.testing.assert_array_equal(variant.calls.numpy(), switch.decisions)
    np.testing.assert_allclose(variant.means.numpy(), switch.means, rtol=1e-5)
    np.testing.assert_allclose(
        variant.variances.numpy(), switch.variances, rtol=1e-4
    )
    np.testing.assert_allclose(
        variant.policy.moving_mean.numpy(), switch.mean, rtol=1e-5
    )


def test_ae_sam_is_not_sam_every_step():
    # The golden test must be able to fail: SAM on every step is not AE-SAM.
    always = switching.AdaptiveSwitch(0.9, -1e9, -1e9, total_steps=STEPS)
    with pytest.raises(AssertionError, match="relative error"):
        golden.compare_with_reference(
            variants.AESAM(rho=0.1, delta=0.8, lambda_1=-0.5, lambda_2=1.0),
            ae_sam_reference(0.1, always),
            jit_compile=False,
            steps=STEPS,
        )
    assert all(always.decisions)


@pytest.mark.parametrize("delta", [0.0, 1.0, -0.5, float("nan")])
def test_invalid_delta(delta):
    with pytest.raises(ValueError, match="delta"):
        variants.AESAM(delta=delta)


@pytest.mark.parametrize("name", ["lambda_1", "lambda_2"])
@pytest.mark.parametrize("value", [float("inf"), "1", None])
def test_invalid_lambda(name, value):
    with pytest.raises(ValueError, match=name):
        variants.AESAM(**{name: value})


def test_ae_sam_registered_with_spec_defaults():
    assert variants.get("ae_sam").get_config() == {
        "rho": 0.05, "epsilon": 1e-12, "delta": 0.9, "lambda_1": -1.0,
        "lambda_2": 1.0,
    }
