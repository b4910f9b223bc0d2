import pytest

from keras_sam import variants
from tests import golden, reference


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_asam_matches_formula(jit_compile, momentum):
    rho, eta = 0.5, 0.01

    def gradients(ref, batch, step):
        clean, state = ref.clean_gradients(batch)
        offsets = reference.asam_offsets(clean, ref.weights, rho, eta)
        return ref.gradients_at(batch, offsets, state)

    golden.compare_with_reference(
        variants.ASAM(rho=rho, eta=eta),
        gradients,
        jit_compile=jit_compile,
        momentum=momentum,
    )


def test_asam_differs_from_sam_direction():
    def sam_gradients(ref, batch, step):
        clean, state = ref.clean_gradients(batch)
        return ref.gradients_at(batch, reference.sam_offsets(clean, 0.5), state)

    with pytest.raises(AssertionError, match="relative error"):
        golden.compare_with_reference(
            variants.ASAM(rho=0.5), sam_gradients, jit_compile=False
        )


@pytest.mark.parametrize("kwargs", [{"eta": -0.1}, {"rho": 0}, {"epsilon": -1}])
def test_invalid_arguments(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        variants.ASAM(**kwargs)
