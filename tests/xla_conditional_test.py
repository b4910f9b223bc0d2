"""Under XLA, SAM's apply-or-skip compiles to selects, not a conditional.

Applying or skipping the update is a `cond` on the step's finiteness. XLA
fuses a conditional whose branches return a value into selects, but keeps
one without outputs as a real `conditional`, which made SAM's step under
XLA slower on the step-time CNN (measured:
`python benchmarks/compare_step_time.py docs/benchmarks/apply_or_skip/no_output`).
This reads the optimized program XLA dumps for one `SAMModel` step
(TensorFlow, `jit_compile=True`), in a process of its own because
`XLA_FLAGS` must be set before TensorFlow starts.
"""

import glob
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.tensorflow_only

STEP = """
import keras, keras_sam
keras.utils.set_random_seed(0)
inner = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(4)])
model = keras_sam.SAMModel(inner, variant=keras_sam.variants.SAM())
model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), jit_compile=True,
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
import numpy as np
rng = np.random.default_rng(0)
model.fit(rng.normal(size=(32, 12)).astype("float32"), rng.integers(0, 4, 32),
          batch_size=16, epochs=1, verbose=0)
"""


def test_sam_step_under_xla_has_no_conditional(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": root, "XLA_FLAGS": f"--xla_dump_to={tmp_path} --xla_dump_hlo_as_text"}
    result = subprocess.run([sys.executable, "-c", STEP], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    steps = [p for p in glob.glob(str(tmp_path / "*after_optimizations.txt"))
             if "one_step_on_data" in p or "multi_step_on_iterator" in p]
    assert steps, sorted(os.listdir(tmp_path))[:20]
    program = open(max(steps, key=os.path.getsize)).read()
    # The update was compiled in: the momentum slots' update is in the program.
    assert program.count(" fusion(") > 0
    assert " conditional(" not in program
