"""Run from outside the source tree, in an environment with only the wheel.

Fails unless keras_sam and its benchmark harness keras_sam_bench are imported
from site-packages (not the checkout), every subpackage of both made it into
the wheel, and a short `SAMModel.fit` trains.
"""

import importlib
import os
import pkgutil
import sys

import numpy as np

import keras
import keras_sam
import keras_sam_bench

SOURCE = os.path.abspath(sys.argv[1])
location = os.path.abspath(keras_sam.__file__)
for package in (keras_sam, keras_sam_bench):
    where = os.path.abspath(package.__file__)
    if where.startswith(SOURCE + os.sep):
        sys.exit(f"{package.__name__} was imported from the checkout ({where}), not the wheel")
expected = set(sys.argv[2].split(","))
installed = {
    name for package in (keras_sam, keras_sam_bench)
    for _, name, is_package in pkgutil.walk_packages(
        package.__path__, package.__name__ + ".") if is_package
}
if installed != expected:
    sys.exit(f"wheel packages {sorted(installed)} != checkout's {sorted(expected)}")
for name in sorted(installed):
    importlib.import_module(name)

rng = np.random.default_rng(0)
x = rng.normal(size=(64, 12)).astype("float32")
y = rng.integers(0, 4, 64)
inner = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(4)])
for variant in sorted(keras_sam.variants.registered()):
    model = keras_sam.SAMModel(keras.models.clone_model(inner), variant=variant)
    model.compile(optimizer="sgd",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0).history
    if not np.isfinite(history["loss"][0]):
        sys.exit(f"{variant}: non-finite loss {history['loss']}")
print(f"wheel OK: keras_sam {keras_sam.__version__} from {location}, "
      f"{len(installed)} subpackages, every variant trains on {keras.backend.backend()}")
