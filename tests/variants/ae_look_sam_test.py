import numpy as np
import pytest

from keras_sam import variants
from tests import golden, reference, switching

STEPS = 8
ARGUMENTS = dict(delta=0.8, lambda_1=-0.5, lambda_2=1.0)


def ae_look_sam_reference(rho, switch, cache):
    def gradients(ref, batch, step):
        clean, state = ref.clean_gradients(batch)
        if not switch(clean, step):
            return cache.reuse(clean)
        offsets = reference.sam_offsets(clean, rho)
        return cache.refresh(clean, ref.gradients_at(batch, offsets, state))

    return gradients


@pytest.mark.parametrize("jit_compile", [False, True])
def test_ae_look_sam_matches_formula(jit_compile):
    switch = switching.AdaptiveSwitch(**ARGUMENTS, total_steps=STEPS)
    cache = switching.ReuseCache(alpha=0.7)
    variant = switching.instrumented(variants.AELookSAM, steps=STEPS)(
        rho=0.1, alpha=0.7, **ARGUMENTS
    )
    model, _ = golden.compare_with_reference(
        variant, ae_look_sam_reference(0.1, switch, cache),
        jit_compile=jit_compile, steps=STEPS,
    )
    assert True in switch.decisions and False in switch.decisions
    np.testing.assert_array_equal(variant.calls.numpy(), switch.decisions)
    np.testing.assert_allclose(variant.means.numpy(), switch.means, rtol=1e-5)
    np.testing.assert_allclose(
        variant.variances.numpy(), switch.variances, rtol=1e-4
    )
    reference.assert_weights_close(
        [v.numpy() for v in model.variant.orthogonal_gradients], cache.cached,
        tolerance=1e-4,  # a difference of float32 gradients
    )


def test_ae_look_sam_before_the_first_sam_step_uses_plain_gradients():
    # lambda = 1e9: no step perturbs, so every step is plain SGD (and the
    # empty cache adds nothing, even with epsilon = 0).
    never = dict(delta=0.8, lambda_1=1e9, lambda_2=1e9)
    switch = switching.AdaptiveSwitch(**never, total_steps=4)
    variant = switching.instrumented(variants.AELookSAM, steps=4)(
        rho=0.1, epsilon=0.0, **never
    )
    golden.compare_with_reference(
        variant, ae_look_sam_reference(0.1, switch, switching.ReuseCache(0.7)),
        jit_compile=False, steps=4,
    )
    assert not any(switch.decisions)
    np.testing.assert_array_equal(variant.calls.numpy(), np.zeros(4))


def test_ae_look_sam_reuses_the_cached_direction():
    # The golden test must be able to fail: AE-SAM's plain `g` on the
    # non-SAM steps is not AE-LookSAM's (alpha = 2 to make it visible).
    switch = switching.AdaptiveSwitch(**ARGUMENTS, total_steps=STEPS)
    with pytest.raises(AssertionError, match="relative error"):
        golden.compare_with_reference(
            variants.AELookSAM(rho=0.1, alpha=2.0, **ARGUMENTS),
            ae_look_sam_reference(0.1, switch, switching.ReuseCache(0.0)),
            jit_compile=False, steps=STEPS,
        )


@pytest.mark.parametrize(
    "name, value",
    [("alpha", -1.0), ("delta", 1.0), ("lambda_1", float("nan")),
     ("lambda_2", "2"), ("rho", 0.0)],
)
def test_invalid_arguments(name, value):
    with pytest.raises(ValueError, match=name):
        variants.AELookSAM(**{name: value})


def test_ae_look_sam_registered_with_spec_defaults():
    assert variants.get("ae_look_sam").get_config() == {
        "rho": 0.05, "epsilon": 1e-12, "delta": 0.9, "lambda_1": 0.0,
        "lambda_2": 2.0, "alpha": 0.7, "granularity": "global",
    }


def test_per_variable_granularity_matches_formula():
    switch = switching.AdaptiveSwitch(**ARGUMENTS, total_steps=STEPS)
    cache = reference.PerVariableReuseCache(alpha=0.7)
    variant = variants.AELookSAM(
        rho=0.1, alpha=0.7, granularity="per_variable", **ARGUMENTS
    )
    model, _ = golden.compare_with_reference(
        variant, ae_look_sam_reference(0.1, switch, cache),
        jit_compile=False, steps=STEPS,
    )
    assert True in switch.decisions and False in switch.decisions
    reference.assert_weights_close(
        [v.numpy() for v in model.variant.orthogonal_gradients], cache.cached,
        tolerance=1e-4,
    )


def test_granularity_is_checked_and_saved():
    with pytest.raises(ValueError, match="granularity"):
        variants.AELookSAM(granularity="per_layer")
    config = variants.AELookSAM(granularity="per_variable").get_config()
    assert variants.AELookSAM.from_config(config).granularity == "per_variable"
