import keras
import numpy as np
import pytest

from keras_sam import policies


@pytest.mark.parametrize("k", [1, 3])
def test_every_k_perturbs_steps_0_k_2k(k):
    policy = policies.EveryK(k)
    steps = [keras.ops.convert_to_tensor(t, "int64") for t in range(10)]
    decisions = [bool(policy.should_perturb([], step)) for step in steps]
    assert decisions == [step % k == 0 for step in range(10)]


def test_every_k_config_round_trip():
    policy = policies.EveryK(k=4)
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(policy)
    )
    assert isinstance(clone, policies.EveryK) and clone.k == 4
    assert clone.get_config() == policy.get_config()


@pytest.mark.parametrize("k", [0, -2, 1.5, np.float32(2), True, None])
def test_invalid_k(k):
    with pytest.raises(ValueError, match="k"):
        policies.EveryK(k)
