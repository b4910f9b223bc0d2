import numpy as np
import pytest

from keras_sam import variants
from tests import golden, reference


def relative_strength(state, gradients, beta, min_strength, epsilon=1e-12):
    """Updates `state` (`v`, `t`) from `gradients`; returns `r` per variable."""
    if state["v"] is None:
        state["v"] = [np.zeros(g.shape) for g in gradients]
    state["v"] = [beta * v + (1 - beta) * np.square(g, dtype=np.float64)
                  for v, g in zip(state["v"], gradients)]
    state["t"] += 1
    s = [np.sqrt(v / (1 - beta ** state["t"])) for v in state["v"]]
    rms = reference.norm(s) / np.sqrt(sum(x.size for x in s))
    return [x / (rms + epsilon) + min_strength for x in s]


def ascent_gradients(ref, batch, clean, before, r, rho, num_ascent_steps,
                     epsilon=1e-12):
    """The gradients at `w + a_K` after the preconditioned ascent from `clean`."""
    offsets = [np.zeros(g.shape) for g in clean]
    direction = clean
    for k in range(num_ascent_steps):
        if k > 0:
            direction = ref.gradients_at(batch, offsets, before)
        u = [d / ri for d, ri in zip(direction, r)]
        step_size = rho / num_ascent_steps / (reference.norm(u) + epsilon)
        offsets = [a + step_size * ui for a, ui in zip(offsets, u)]
        if reference.norm(offsets) > rho:
            offsets = [a * rho / reference.norm(offsets) for a in offsets]
    return ref.gradients_at(batch, offsets, before)


def ga_sam_reference(rho, beta, min_strength, num_ascent_steps, epsilon=1e-12):
    """GA-SAM in NumPy (float64), as the class docstring states it; `state`
    holds `v` and `t`."""
    state = {"v": None, "t": 0}

    def gradients(ref, batch, step):
        clean, before = ref.clean_gradients(batch)
        r = relative_strength(state, clean, beta, min_strength, epsilon)
        return ascent_gradients(
            ref, batch, clean, before, r, rho, num_ascent_steps, epsilon
        )

    gradients.state = state
    return gradients


@pytest.mark.parametrize(
    "num_ascent_steps, jit_compile", [(1, False), (2, False), (2, True)]
)
def test_ga_sam_matches_formula(jit_compile, num_ascent_steps):
    # Four steps: the strength is an average over the steps so far.
    args = dict(rho=0.1, beta=0.9, min_strength=1e-3,
                num_ascent_steps=num_ascent_steps)
    expected = ga_sam_reference(**args)
    model, _ = golden.compare_with_reference(
        variants.GASAM(**args), expected, jit_compile=jit_compile, steps=4
    )
    reference.assert_weights_close(
        [v.numpy() for v in model.variant.second_moments],
        expected.state["v"],
    )
    assert int(model.variant.iterations.numpy()) == 4


def test_strength_is_a_moving_average_over_steps():
    # A reference that forgets the past (beta = 0) must miss beta = 0.9.
    with pytest.raises(AssertionError, match="relative error"):
        golden.compare_with_reference(
            variants.GASAM(rho=0.1, beta=0.9),
            ga_sam_reference(0.1, 0.0, 1e-3, 1),
            jit_compile=False,
        )


def sam(ref, batch, step):
    clean, state = ref.clean_gradients(batch)
    return ref.gradients_at(batch, reference.sam_offsets(clean, 0.1), state)


def test_ga_sam_is_not_sam():
    with pytest.raises(AssertionError, match="relative error"):
        golden.compare_with_reference(
            variants.GASAM(rho=0.1), sam, jit_compile=False
        )


def test_uniform_strength_is_sam():
    # A huge min_strength makes r uniform: the ascent is SAM's.
    golden.compare_with_reference(
        variants.GASAM(rho=0.1, min_strength=1e7), sam, jit_compile=False
    )


@pytest.mark.parametrize("num_ascent_steps", [1, 3])
def test_oracle_calls_per_step(num_ascent_steps):
    calls = golden.oracle_calls_per_step(
        variants.GASAM, jit_compile=False, num_ascent_steps=num_ascent_steps
    )
    assert calls == num_ascent_steps


@pytest.mark.parametrize(
    "kwargs",
    [{"beta": 1.0}, {"beta": -0.1}, {"min_strength": -1e-3},
     {"num_ascent_steps": 0}, {"num_ascent_steps": 1.5},
     {"num_ascent_steps": True}, {"rho": -0.1}, {"epsilon": -1.0}],
)
def test_invalid_arguments(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        variants.GASAM(**kwargs)
