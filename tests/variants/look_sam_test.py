import keras
import numpy as np
import pytest

import keras_sam
from keras_sam import variants
from tests import golden, models, reference, switching


def look_sam_reference(rho, k, alpha, cache=None):
    cache = cache or switching.ReuseCache(alpha)

    def gradients(ref, batch, step):
        clean, state = ref.clean_gradients(batch)
        if step % k:
            return cache.reuse(clean)
        offsets = reference.sam_offsets(clean, rho)
        return cache.refresh(clean, ref.gradients_at(batch, offsets, state))

    return gradients


@pytest.mark.parametrize("jit_compile, k", [(False, 2), (True, 3)])
def test_look_sam_matches_formula(jit_compile, k):
    cache = switching.ReuseCache(alpha=0.7)
    variant = switching.instrumented(variants.LookSAM, steps=7)(
        rho=0.1, k=k, alpha=0.7
    )
    model, _ = golden.compare_with_reference(
        variant, look_sam_reference(0.1, k, 0.7, cache),
        jit_compile=jit_compile, steps=7,
    )
    reference.assert_weights_close(
        [v.numpy() for v in model.variant.orthogonal_gradients], cache.cached,
        tolerance=1e-4,  # a difference of float32 gradients
    )
    # A perturbed pass that is not taken does not run (executions counted
    # in the compiled step): steps 0, k, 2k, ... only.
    expected = [float(step % k == 0) for step in range(7)]
    np.testing.assert_array_equal(variant.calls.numpy(), expected)


def test_look_sam_reuse_steps_are_not_plain_gradients():
    # The golden test must be able to fail: alpha = 0 drops the cached
    # direction, which the variant (alpha = 2) adds on the reuse steps.
    with pytest.raises(AssertionError, match="relative error"):
        golden.compare_with_reference(
            variants.LookSAM(rho=0.1, k=3, alpha=2.0),
            look_sam_reference(0.1, 3, 0.0),
            jit_compile=False,
            steps=6,
        )


def test_look_sam_cache_is_saved_and_restored(tmp_path):
    model, _ = golden.compare_with_reference(
        variants.LookSAM(rho=0.1, k=2), look_sam_reference(0.1, 2, 0.7),
        jit_compile=False, steps=3,
    )
    cached = [v.numpy() for v in model.variant.orthogonal_gradients]
    assert all(np.any(c != 0) for c in cached)
    model.save(tmp_path / "look_sam.keras")
    loaded = keras.models.load_model(tmp_path / "look_sam.keras")
    assert loaded.variant.get_config() == model.variant.get_config()
    for restored, saved in zip(loaded.variant.orthogonal_gradients, cached):
        np.testing.assert_array_equal(restored.numpy(), saved)


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "5"])
def test_invalid_k(k):
    with pytest.raises(ValueError, match="k"):
        variants.LookSAM(k=k)


@pytest.mark.parametrize("alpha", [-0.1, float("nan"), "0.7"])
def test_invalid_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        variants.LookSAM(alpha=alpha)


def test_look_sam_registered_with_spec_defaults():
    assert variants.get("look_sam").get_config() == {
        "rho": 0.05, "epsilon": 1e-12, "k": 5, "alpha": 0.7,
        "granularity": "global",
    }


@pytest.mark.parametrize("jit_compile", [False, True])
def test_per_variable_granularity_matches_formula(jit_compile):
    cache = reference.PerVariableReuseCache(alpha=0.7)
    model, _ = golden.compare_with_reference(
        variants.LookSAM(rho=0.1, k=2, alpha=0.7, granularity="per_variable"),
        look_sam_reference(0.1, 2, 0.7, cache), jit_compile=jit_compile, steps=5,
    )
    reference.assert_weights_close(
        [v.numpy() for v in model.variant.orthogonal_gradients], cache.cached,
        tolerance=1e-4,
    )


def test_per_variable_granularity_is_not_global():
    with pytest.raises(AssertionError, match="relative error"):
        golden.compare_with_reference(
            variants.LookSAM(rho=0.1, k=2, alpha=2.0, granularity="per_variable"),
            look_sam_reference(0.1, 2, 2.0), jit_compile=False, steps=4,
        )


@pytest.mark.parametrize("granularity", ["layer", "Global", None])
def test_invalid_granularity(granularity):
    with pytest.raises(ValueError, match="granularity.*one of"):
        variants.LookSAM(granularity=granularity)


def test_granularity_config_round_trip():
    variant = variants.LookSAM(granularity="per_variable")
    config = variant.get_config()
    assert config["granularity"] == "per_variable"
    assert variants.LookSAM.from_config(config).get_config() == config
