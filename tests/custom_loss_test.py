"""Models that customize their loss or their step, as keras.io examples do."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_sam
from keras_sam import variants
from tests import reference

ALPHA, TEMPERATURE = 0.3, 3.0


class Distiller(keras.Model):
    """The keras.io knowledge-distillation model: the loss in `compute_loss`."""

    def __init__(self, student, teacher):
        super().__init__()
        self.student, self.teacher = student, teacher
        self.student_loss_fn = keras.losses.SparseCategoricalCrossentropy(
            from_logits=True
        )
        self.distillation_loss_fn = keras.losses.KLDivergence()

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     allow_empty=False):
        teacher_pred = self.teacher(x, training=False)
        student_loss = self.student_loss_fn(y, y_pred)
        distillation_loss = self.distillation_loss_fn(
            ops.softmax(teacher_pred / TEMPERATURE, axis=1),
            ops.softmax(y_pred / TEMPERATURE, axis=1),
        ) * TEMPERATURE**2
        return ALPHA * student_loss + (1 - ALPHA) * distillation_loss

    def call(self, x):
        return self.student(x)


def _softmax(z):
    z = np.asarray(z, np.float64) / TEMPERATURE
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _distillation_loss(y_true, y_pred, sample_weight):
    """The same loss, written out; `y_true = (labels, teacher logits)`."""
    labels, teacher_logits = y_true
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, y_pred)
    p = ops.softmax(teacher_logits / TEMPERATURE, axis=1)
    q = ops.softmax(y_pred / TEMPERATURE, axis=1)
    kl = ops.mean(ops.sum(p * ops.log(ops.clip(p, 1e-7, 1.0) / ops.clip(q, 1e-7, 1.0)), axis=1))
    return ALPHA * ce + (1 - ALPHA) * kl * TEMPERATURE**2


def _nets():
    keras.utils.set_random_seed(0)
    teacher = keras.Sequential([keras.Input((12,)), keras.layers.Dense(32, activation="relu"),
                                keras.layers.Dense(4)])
    teacher.trainable = False
    student = keras.Sequential([keras.Input((12,)), keras.layers.Dense(8, activation="tanh"),
                                keras.layers.Dense(4)])
    return student, teacher


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(48, 12)).astype("float32"), rng.integers(0, 4, 48)


def test_distiller_trains_with_its_compute_loss_equal_to_a_reference():
    x, y = _data()
    student, teacher = _nets()
    teacher_logits = np.asarray(teacher.predict(x, verbose=0))
    ref = reference.ReferenceModel(student, _distillation_loss)
    first_loss = float(_distillation_loss(
        (y[:16], teacher_logits[:16]), student(x[:16]), None))
    model = keras_sam.SAMModel(Distiller(student, teacher), variant=variants.SAM(rho=0.1))
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    teacher_before = [np.array(v.numpy()) for v in teacher.variables]
    model.fit(x[:16], y[:16], batch_size=16, shuffle=False, verbose=0)
    history = model.fit(x[16:], y[16:], batch_size=16, shuffle=False, verbose=0)
    ref.train_sam(x, (y, teacher_logits), batch_size=16, rho=0.1, learning_rate=0.1)
    reference.assert_weights_close(
        [v.numpy() for v in student.trainable_variables], ref.weights
    )
    for b, v in zip(teacher_before, teacher.variables):
        np.testing.assert_array_equal(v.numpy(), b)
    assert history.history["loss"][0] > 0
    # The logged loss of a one-step fit is the clean pass's distillation loss.
    student2, teacher2 = _nets()
    single = keras_sam.SAMModel(Distiller(student2, teacher2), variant="sam")
    single.compile(optimizer=keras.optimizers.SGD(0.1))
    logged = single.fit(x[:16], y[:16], batch_size=16, verbose=0).history["loss"][0]
    np.testing.assert_allclose(logged, first_loss, rtol=1e-5)
    evaluated = single.evaluate(x[:16], y[:16], verbose=0, return_dict=True)
    expected = float(_distillation_loss(
        (y[:16], teacher_logits[:16]), student2(x[:16]), None))
    np.testing.assert_allclose(evaluated["loss"], expected, rtol=1e-5)


def test_a_compiled_loss_beside_compute_loss_is_refused():
    student, teacher = _nets()
    model = keras_sam.SAMModel(Distiller(student, teacher))
    model.compile(optimizer="sgd", loss="mse")
    x, y = _data()
    before = [np.array(v.numpy()) for v in student.variables]
    with pytest.raises(ValueError, match="overrides `compute_loss`.*without `loss`"):
        model.fit(x, y, verbose=0)
    for b, v in zip(before, student.variables):
        np.testing.assert_array_equal(v.numpy(), b)


def test_a_model_with_its_own_train_step_is_refused():
    class GAN(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            raise AssertionError("never reached")

    with pytest.raises(TypeError, match=r"overrides `train_step`.*variant.minimize"):
        keras_sam.SAMModel(GAN())
    with pytest.raises(TypeError, match="overrides `train_step`"):
        keras_sam.SAMModel(keras_sam.SAMModel(keras.Sequential([keras.Input((2,)),
                                                                keras.layers.Dense(1)])))
