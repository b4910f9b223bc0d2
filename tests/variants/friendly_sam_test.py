import keras
import numpy as np
import pytest

from keras_sam import variants
from tests import golden, reference
from tests.variants.sam_test import sam_reference


def friendly_sam_reference(rho, sigma, decay, epsilon=1e-12):
    """F-SAM in NumPy (float64); `state["m"]` is the moving average."""
    state = {"m": None}

    def gradients(ref, batch, step):
        clean, before = ref.clean_gradients(batch)
        if state["m"] is None:
            direction = clean
            state["m"] = [np.asarray(g, np.float64) for g in clean]
        else:
            direction = [g - sigma * m for g, m in zip(clean, state["m"])]
            state["m"] = [decay * m + (1 - decay) * g
                          for m, g in zip(state["m"], clean)]
        offsets = reference.sam_offsets(direction, rho, epsilon)
        return ref.gradients_at(batch, offsets, before)

    gradients.state = state
    return gradients


@pytest.mark.parametrize("jit_compile", [False, True])
def test_friendly_sam_matches_formula(jit_compile):
    # Five steps: the first-step branch, then the moving average.
    expected = friendly_sam_reference(0.1, 0.8, 0.6)
    model, _ = golden.compare_with_reference(
        variants.FriendlySAM(rho=0.1, sigma=0.8, decay=0.6), expected,
        jit_compile=jit_compile, steps=5,
    )
    reference.assert_weights_close(
        [v.numpy() for v in model.variant.gradient_averages], expected.state["m"]
    )
    assert float(model.variant.started.numpy()) == 1.0


def test_friendly_sam_with_sample_weight_matches_formula():
    sample_weight = np.random.default_rng(3).uniform(0, 2, 48).astype("float32")
    golden.compare_with_reference(
        variants.FriendlySAM(rho=0.1), friendly_sam_reference(0.1, 1.0, 0.9),
        jit_compile=False, steps=3, sample_weight=sample_weight,
    )


def test_average_is_of_the_clean_gradient():
    # The golden test must be able to fail: pytorch-optimizer's form up to
    # its 3.9.0 release, which averages the modified direction d instead of
    # g, is not this one (its 4.1.0 release averages g, as keras_sam does).
    def averaged_direction(rho, sigma, decay):
        state = {"m": None}

        def gradients(ref, batch, step):
            clean, before = ref.clean_gradients(batch)
            if state["m"] is None:
                direction, state["m"] = clean, clean
            else:
                direction = [g - sigma * m for g, m in zip(clean, state["m"])]
                state["m"] = [decay * m + (1 - decay) * d
                              for m, d in zip(state["m"], direction)]
            offsets = reference.sam_offsets(direction, rho)
            return ref.gradients_at(batch, offsets, before)

        return gradients

    with pytest.raises(AssertionError, match="relative error"):
        golden.compare_with_reference(
            variants.FriendlySAM(rho=0.5, sigma=1.0, decay=0.5),
            averaged_direction(0.5, 1.0, 0.5), jit_compile=False, steps=4,
        )


def test_friendly_sam_is_not_sam():
    with pytest.raises(AssertionError, match="relative error"):
        golden.compare_with_reference(
            variants.FriendlySAM(rho=0.5, decay=0.5), sam_reference(0.5),
            jit_compile=False, steps=3,
        )


def test_sigma_zero_is_sam():
    golden.compare_with_reference(
        variants.FriendlySAM(rho=0.1, sigma=0.0), sam_reference(0.1),
        jit_compile=False, steps=3,
    )


def test_state_is_saved_and_restored(tmp_path):
    model, _ = golden.compare_with_reference(
        variants.FriendlySAM(rho=0.1), friendly_sam_reference(0.1, 1.0, 0.9),
        jit_compile=False, steps=2,
    )
    saved = [v.numpy() for v in model.variant.gradient_averages]
    assert all(np.any(m != 0) for m in saved)
    model.save(tmp_path / "friendly_sam.keras")
    loaded = keras.models.load_model(tmp_path / "friendly_sam.keras")
    assert loaded.variant.get_config() == model.variant.get_config()
    assert float(loaded.variant.started.numpy()) == 1.0
    for restored, value in zip(loaded.variant.gradient_averages, saved):
        np.testing.assert_array_equal(restored.numpy(), value)


@pytest.mark.parametrize(
    "kwargs", [{"sigma": -0.1}, {"sigma": "1"}, {"decay": 1.0},
               {"decay": -0.1}, {"rho": 0.0}, {"epsilon": -1.0}],
)
def test_invalid_arguments(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        variants.FriendlySAM(**kwargs)


def test_friendly_sam_registered_with_defaults():
    assert variants.get("friendly_sam").get_config() == {
        "rho": 0.05, "epsilon": 1e-12, "sigma": 1.0, "decay": 0.9,
    }


def test_skipped_first_step_leaves_the_first_step_to_come():
    # A non-finite first batch is skipped: `m` and the first-step flag are
    # variant state, restored, so the next step is still a first step.
    x = np.random.default_rng(0).normal(size=(16, 12)).astype("float32")
    x[0] = np.nan
    model, _ = golden.compare_with_reference(
        variants.FriendlySAM(rho=0.1), friendly_sam_reference(0.1, 1.0, 0.9),
        jit_compile=False, steps=1,
    )
    model.variant.started.assign(0.0)
    for average in model.variant.gradient_averages:
        average.assign(np.zeros(average.shape, "float32"))
    history = model.fit(x, np.zeros(16), batch_size=16, verbose=0)
    assert history.history["skipped_steps"] == [1.0]
    assert float(model.variant.started.numpy()) == 0.0
    for average in model.variant.gradient_averages:
        np.testing.assert_array_equal(average.numpy(), 0.0)
