"""Raw inputs for keras-hub tasks: their own preprocessing, applied by them.

A keras-hub `Task` (a `PipelineModel`) preprocesses in its `fit`,
`evaluate`, `predict` and `*_on_batch`: it maps its preprocessor over the
data (tokenizing strings, for instance) and hands the result to
`keras.Model`'s method. `SAMModel` trains through its own `keras.Model`
methods, so it asks the task's class to prepare the arguments: each
`PipelineModel` method runs unchanged on a stand-in whose `preprocess_samples`
is the wrapped task's and whose `keras.Model` methods return the arguments
they receive instead of running (`__call__` only checks: the task refuses
raw strings there, with its own message). The data SAMModel trains on is then exactly
what `task.fit` would see (same datasets, class weights, validation split).
"""

import functools

import keras

METHODS = (
    "__call__", "fit", "evaluate", "predict", "train_on_batch",
    "test_on_batch", "predict_on_batch",
)


def pipeline_class(model):
    """keras-hub's `PipelineModel` if `model` is one, else `None`."""
    for klass in type(model).__mro__:
        if klass.__name__ == "PipelineModel" and klass.__module__.startswith(
            "keras_hub"
        ):
            return klass
    return None


def prepare(model, method, args, kwargs):
    """The `(args, kwargs)` `model`'s pipeline would give `keras.Model.<method>`.

    Unchanged when `model` has no pipeline.
    """
    pipeline = pipeline_class(model)
    if pipeline is None:
        return args, kwargs
    stand_in = object.__new__(_stand_in_class(pipeline))
    stand_in.__dict__["_task"] = model  # Not a tracked Keras attribute.
    return getattr(pipeline, method)(stand_in, *args, **kwargs)


def preprocessing(method):
    """`keras.Model.<method>` after `prepare`, for a wrapper's `.model`."""

    def prepared(self, *args, **kwargs):
        args, kwargs = prepare(self.model, method, args, kwargs)
        return getattr(keras.Model, method)(self, *args, **kwargs)

    prepared.__name__ = method
    prepared.__doc__ = f"`keras.Model.{method}`, through a keras-hub task's preprocessing."
    return prepared


@functools.lru_cache(maxsize=None)
def _stand_in_class(pipeline):
    class Arguments(keras.Model):
        """Comes right before `keras.Model` in the stand-in's MRO."""

    def returns_arguments(self, *args, **kwargs):
        return args, kwargs

    for name in METHODS:
        setattr(Arguments, name, returns_arguments)

    class StandIn(pipeline, Arguments):
        def preprocess_samples(self, x, y=None, sample_weight=None):
            return self._task.preprocess_samples(x, y, sample_weight)

    return StandIn
