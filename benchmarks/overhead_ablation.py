"""Where SAMModel's SAM step spends its time beyond the hand-written floor.

TensorFlow only (it switches parts of `keras_sam/backend/` off). One
process, side by side, the same model, weights and batches: the floor
(`TwoPassSAM`), SAMModel's SAM, and SAMModel's SAM with one of its
guarantees or logs switched off at trace time:

- `no finiteness test`: `common.step_is_finite` returns True (no `IsFinite`
  over the gradients and the update, no `skipped_steps` update);
- `no perturbation_norm`: `sam_step._record_perturbation` does nothing;
- `no apply/skip cond`: the update is applied without the `tf.cond`;
- `none of the three`.

The switched-off versions are not correct SAMModels (a NaN batch would
reach the weights): they only measure what each piece costs. For each method
the script reports the median over interleaved rounds of its step time over
the floor's in the same round, and the ops TensorFlow executes per step
after Grappler (from the run metadata of one step: what the executor
dispatches, unlike `step_ops.py`, which counts the traced graph).

    python benchmarks/overhead_ablation.py --output docs/benchmarks/overhead_ablation
"""

import argparse
import collections
import contextlib
import json
import os
import statistics
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402
from tensorflow.python.eager import context  # noqa: E402

from keras_sam.backend import common  # noqa: E402
from keras_sam_bench import render, render_step_time  # noqa: E402
from keras_sam import sam_step  # noqa: E402
from keras_sam.backend import tensorflow as tf_backend  # noqa: E402
import step_time  # noqa: E402
import step_time_measure as measure  # noqa: E402
import step_time_models as models  # noqa: E402

SWITCHES = {
    "no finiteness test": (common, "step_is_finite",
                           lambda gradients, update, agree=None: tf.constant(True)),
    "no perturbation_norm": (sam_step, "_record_perturbation",
                             lambda model, offsets: None),
    "no apply/skip cond": (tf_backend, "apply_or_skip",
                           lambda finite, apply, skip: apply()),
}
METHODS = {
    "floor": ("floor", ()),
    "SAM": ("sam", ()),
    **{f"SAM, {name}": ("sam", (name,)) for name in SWITCHES},
    "SAM, none of the three": ("sam", tuple(SWITCHES)),
}


@contextlib.contextmanager
def switched_off(names):
    saved = [(m, attr, getattr(m, attr)) for m, attr, _ in SWITCHES.values()]
    try:
        for name in names:
            module, attr, replacement = SWITCHES[name]
            setattr(module, attr, replacement)
        yield
    finally:
        for module, attr, original in saved:
            setattr(module, attr, original)


def executed_ops(method, model_name, x, y, batch):
    """Ops in the largest graph TensorFlow runs for a `fit` step of a fresh
    model (run metadata holds the graphs a call instantiates)."""
    model, _ = step_time.build(method, model_name, jit=False)
    context.context().enable_run_metadata()
    try:
        model.fit(x[:batch], y[:batch], batch_size=batch, verbose=0, shuffle=False)
        metadata = context.context().export_run_metadata()
    finally:
        context.context().disable_run_metadata()
    graph = max(metadata.partition_graphs, key=lambda g: len(g.node))
    free = {"Const", "_Arg", "_Retval", "NoOp"}
    return collections.Counter(n.op for n in graph.node if n.op not in free)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="cnn", choices=list(models.MODELS))
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--steps", type=int, default=41)
    parser.add_argument("--output", default=None, help="writes STEM.md and STEM.json")
    args = parser.parse_args(argv)
    batch = models.MODELS[args.model]["batch_size"]
    x, y = models.synthetic_data(args.model, batch * args.steps)

    built, ops = {}, {}
    for name, (method, switches) in METHODS.items():
        with switched_off(switches):  # the step is traced here, once
            model, _ = step_time.build(method, args.model, jit=False)
            model.fit(x[:3 * batch], y[:3 * batch], batch_size=batch, epochs=2,
                      verbose=0, shuffle=False)
            ops[name] = executed_ops(method, args.model, x, y, batch)
        built[name] = model

    seconds = {name: [] for name in METHODS}
    names = list(METHODS)
    load_before = measure.load_average()
    for r in range(args.repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            probe = measure.EpochProbe(skip=1, memory=False)
            built[name].fit(x, y, batch_size=batch, epochs=1, verbose=0,
                            shuffle=False, callbacks=[probe])
            seconds[name].append(probe.seconds_per_step)

    rows = []
    for name in names:
        ratios = sorted(a / b for a, b in zip(seconds[name], seconds["floor"]))
        quartiles = statistics.quantiles(ratios, n=4)
        rows.append({
            "method": name,
            "median_ms": 1000 * statistics.median(seconds[name]),
            "x_floor": statistics.median(ratios),
            "x_floor_quartiles": [quartiles[0], quartiles[2]],
            "executed_ops": sum(ops[name].values()),
            "op_types": dict(ops[name].most_common()),
            "seconds": seconds[name],
        })
    lines = [
        f"Command: `python benchmarks/overhead_ablation.py {' '.join(argv or sys.argv[1:])}`  ",
        f"Model {models.MODELS[args.model]['label']}, jit_compile=False, batch {batch}, {args.steps - 1} "
        f"timed steps × {args.repeats} rounds; load average before "
        f"{load_before}, after {measure.load_average()}.",
        "",
        "| method | median ms/step | ×floor (median of rounds) | quartiles | ops executed per step |",
        "|---|---:|---:|---|---:|",
    ]
    for row in rows:
        low, high = row["x_floor_quartiles"]
        lines.append(f"| {row['method']} | {row['median_ms']:.2f} | {row['x_floor']:.3f} "
                     f"| {low:.3f}–{high:.3f} | {row['executed_ops']} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        with open(args.output + ".md", "w") as f:
            f.write(render.marked(args.output + ".json", render_step_time.ablation(
                {"model_label": models.MODELS[args.model]["label"], "rows": rows})))
        with open(args.output + ".json", "w") as f:
            json.dump({"command": lines[0][len("Command: `"):-3],
                       "model": args.model,
                       "model_label": models.MODELS[args.model]["label"],
                       "machine": measure.machine(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
