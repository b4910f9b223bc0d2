import pytest

from keras_sam import variants
from tests import golden, models, reference


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


def paths_and_model():
    inner = models.bn_dropout_mlp()
    return [v.path for v in inner.trainable_variables], inner


@pytest.mark.parametrize(
    "jit_compile,given", [(False, True), (True, True), (False, False)]
)
def test_unscaled_biases_match_formula(jit_compile, given):
    # Dense biases and BatchNorm beta get T = 1; kernels and gamma |w| + eta.
    # SAMModel gives the variant the paths itself (given=False).
    paths, inner = paths_and_model()
    assert sum(p.endswith(("bias", "beta")) for p in paths) == 3

    def gradients(ref, batch, step):
        clean, state = ref.clean_gradients(batch)
        offsets = reference.asam_offsets_unscaled_shifts(
            clean, ref.weights, paths, 0.5, 0.01
        )
        return ref.gradients_at(batch, offsets, state)

    golden.compare_with_reference(
        variants.ASAM(rho=0.5, scale_biases=False,
                      variable_paths=paths if given else None),
        gradients, jit_compile=jit_compile, model_fn=lambda: inner,
    )


def test_unscaled_biases_differ_from_scaled():
    paths, inner = paths_and_model()

    def scaled(ref, batch, step):
        clean, state = ref.clean_gradients(batch)
        offsets = reference.asam_offsets(clean, ref.weights, 0.5, 0.01)
        return ref.gradients_at(batch, offsets, state)

    with pytest.raises(AssertionError, match="relative error"):
        golden.compare_with_reference(
            variants.ASAM(rho=0.5, scale_biases=False, variable_paths=paths),
            scaled, jit_compile=False, model_fn=lambda: inner,
        )


def test_scale_biases_config_round_trip():
    assert variants.get("asam").get_config() == {
        "rho": 0.5, "epsilon": 1e-12, "eta": 0.01, "scale_biases": True,
    }
    paths = ["dense/kernel", "dense/bias"]
    variant = variants.ASAM(scale_biases=False, variable_paths=paths)
    restored = variants.ASAM.from_config(variant.get_config())
    assert restored.get_config() == variant.get_config()
    restored.build([(3, 2), (2,)])
    assert list(restored.scaled) == [True, False]


@pytest.mark.parametrize("paths", [None, ["dense/kernel"]])
def test_unscaled_biases_need_the_paths(paths):
    variant = variants.ASAM(scale_biases=False, variable_paths=paths)
    with pytest.raises(ValueError, match="variable_paths"):
        variant.build([(3, 2), (2,)])


@pytest.mark.parametrize("scale_biases", [0, "False", None])
def test_invalid_scale_biases(scale_biases):
    with pytest.raises(ValueError, match="scale_biases.*True or False"):
        variants.ASAM(scale_biases=scale_biases)
