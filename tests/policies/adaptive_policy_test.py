import keras
import numpy as np
import pytest

from keras_sam import policies
from tests import switching


def _gradients(rng, scale):
    return [
        (scale * rng.normal(size=shape)).astype("float32")
        for shape in [(3, 4), (4,)]
    ]


@pytest.mark.parametrize("total_steps", [6, 0])
def test_statistics_and_decisions_match_numpy(total_steps):
    policy = policies.AdaptivePolicy(delta=0.7, lambda_1=-0.5, lambda_2=1.5)
    policy.total_steps.assign(float(total_steps))
    switch = switching.AdaptiveSwitch(0.7, -0.5, 1.5, total_steps)
    rng = np.random.default_rng(0)
    decisions = []
    # Steps beyond T keep c = lambda_1; scales make both outcomes occur.
    for step, scale in enumerate([1.0, 3.0, 0.5, 2.0, 0.2, 4.0, 1.0, 0.1, 5.0]):
        gradients = _gradients(rng, scale)
        decision = policy.should_perturb(gradients, np.int64(step))
        decisions.append(bool(decision))
        switch(gradients, step)
        np.testing.assert_allclose(
            policy.moving_mean.numpy(), switch.mean, rtol=1e-5
        )
        np.testing.assert_allclose(
            policy.moving_variance.numpy(), switch.variance, rtol=1e-5
        )
    assert decisions == switch.decisions
    assert True in decisions and False in decisions


def test_coefficient_schedule():
    policy = policies.AdaptivePolicy(lambda_1=-1.0, lambda_2=3.0)
    policy.total_steps.assign(8.0)
    coefficient = [float(policy.coefficient(t)) for t in [0, 2, 4, 8, 20]]
    np.testing.assert_allclose(coefficient, [3.0, 2.0, 1.0, -1.0, -1.0])
    policy.total_steps.assign(0.0)  # unknown T: lambda_1, never NaN
    assert float(policy.coefficient(5)) == -1.0


def test_thresholds_are_variables_a_callback_can_set():
    policy = policies.AdaptivePolicy(lambda_1=-1.0, lambda_2=1.0)
    policy.total_steps.assign(4.0)
    policy.lambda_1.assign(3.0)
    np.testing.assert_allclose(
        [float(policy.coefficient(t)) for t in [0, 2, 4]], [1.0, 2.0, 3.0]
    )
    assert policy.get_config()["lambda_1"] == -1.0  # the constructor's


def test_adaptive_policy_config_round_trip():
    policy = policies.AdaptivePolicy(delta=0.5, lambda_1=0.0, lambda_2=2.0)
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(policy)
    )
    assert isinstance(clone, policies.AdaptivePolicy)
    assert clone.get_config() == policy.get_config()
    assert (clone.delta, float(clone.lambda_2)) == (0.5, 2.0)


@pytest.mark.parametrize(
    "name, value",
    [("delta", 0.0), ("delta", 1.0), ("lambda_1", float("inf")),
     ("lambda_2", "1")],
)
def test_invalid_arguments(name, value):
    with pytest.raises(ValueError, match=name):
        policies.AdaptivePolicy(**{name: value})
