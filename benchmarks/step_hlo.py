"""The convolutions XLA compiles into one SAMModel step, by batch size.

Where a variant's step time under XLA differs from what its passes
predict, the compiled program says whether XLA runs the passes the rule
asks for. This compiles `SAMModel`'s train step with `jit_compile=True`
on the TensorFlow backend for each method, dumps XLA's optimized HLO
(`XLA_FLAGS=--xla_dump_to`), and counts its convolutions by output shape:
activation-shaped ones (forward, and backward with respect to the
input) by their batch dimension, kernel-shaped ones (backward with
respect to the kernel) apart. It times nothing.

    python benchmarks/step_hlo.py --variants sam,esam --output docs/benchmarks/esam_xla/step_hlo

writes STEM.json and STEM.md. The model is `step_time.py`'s ResNet
(32x32x3 images, batch 32); ESAM keeps `round(gamma * 32)` = 16 rows.
"""

import argparse
import collections
import glob
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CONVOLUTION = re.compile(r"= f32\[(\d+),(\d+),(\d+),(\d+)\]\{[^}]*\} convolution\(")


def compile_step(method, folder, batch):
    """Runs one SAMModel (or plain) step of the ResNet under XLA in a fresh
    process that dumps its HLO into `folder`."""
    code = f"""
import os, sys
sys.path.insert(0, {HERE!r})
import keras, keras_sam
import step_time_models as models
inner = models.build_model("resnet")
model = inner
if {method!r} != "erm":
    model = keras_sam.SAMModel(inner, variant=keras_sam.variants.registered()[{method!r}]())
model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              jit_compile=True)
x, y = models.synthetic_data("resnet", {batch})
model.fit(x, y, batch_size={batch}, epochs=1, verbose=0, shuffle=False)
"""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_FLAGS": f"--xla_dump_to={folder} --xla_dump_hlo_as_text"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def count(folder, batch):
    """`{"activation": {batch size: n}, "kernel": n}` of the train step's
    optimized HLO in `folder`."""
    paths = [p for p in glob.glob(os.path.join(folder, "*after_optimizations.txt"))
             if "one_step_on_data" in p or "multi_step_on_iterator" in p]
    text = open(max(paths, key=os.path.getsize)).read()
    activation, kernel = collections.Counter(), 0
    for dims in CONVOLUTION.findall(text):
        first, height, width, _ = (int(d) for d in dims)
        # Activations of this ResNet are at least 8 x 8; kernels are 1 x 1
        # or 3 x 3 (XLA lays a kernel gradient out as (out, h, w, in)).
        if height >= 8 and width >= 8:
            activation[first] += 1
        else:
            kernel += 1
    return {"activation": {str(k): v for k, v in sorted(activation.items())},
            "kernel": kernel}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default="sam,esam")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--output", default=None, help="path stem")
    args = parser.parse_args(argv)
    rows = {}
    for method in ["erm", *args.variants.split(",")]:
        with tempfile.TemporaryDirectory() as folder:
            compile_step(method, folder, args.batch)
            rows[method] = count(folder, args.batch)
    lines = ["| method | activation-shaped convolutions (forward, input gradient) by "
             "batch size | kernel-shaped (kernel gradient) |", "|---|---|---:|"]
    for method, row in rows.items():
        by_batch = ", ".join(f"{n} at {b}" for b, n in sorted(row["activation"].items(),
                                                               key=lambda kv: -int(kv[0])))
        lines.append(f"| {method} | {by_batch} | {row['kernel']} |")
    result = {"command": shlex.join(["python", "benchmarks/step_hlo.py",
                                     *(sys.argv[1:] if argv is None else argv)]),
              "batch": args.batch, "rows": rows}
    text = "\n".join(lines)
    print(text)
    if args.output:
        os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
        with open(args.output + ".json", "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
        with open(args.output + ".md", "w") as f:
            f.write(f"Command: `{result['command']}`\n\n{text}\n")
    return result


if __name__ == "__main__":
    main()
