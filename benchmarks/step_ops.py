"""Counts the TensorFlow ops one training step runs, per method: where a tiny
model's step time goes when the passes themselves are cheap.

Traces each method's `train_step` (as in `step_time.py`: ERM, the
hand-written floor, every registered variant through `SAMModel`) into a graph
and counts its ops, constants left out, including the ops inside `tf.cond`
branches (both branches: only one runs). Deterministic, unlike timings.

    python benchmarks/step_ops.py --model cnn
"""

import argparse
import collections
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tensorflow as tf  # noqa: E402

import keras_sam  # noqa: E402
import step_time  # noqa: E402
import step_time_models as models  # noqa: E402

FREE = {"Const", "Placeholder", "NoOp"}


def count_ops(model, x, y):
    """`(ops outside branches, ops inside branches, Counter by type)`."""
    graph = tf.function(model.train_step).get_concrete_function(
        (tf.constant(x), tf.constant(y))
    ).graph.as_graph_def()
    top = [n.op for n in graph.node if n.op not in FREE]
    nested = [n.op for f in graph.library.function for n in f.node_def
              if n.op not in FREE]
    return len(top), len(nested), collections.Counter(top + nested)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="cnn", choices=list(models.MODELS))
    parser.add_argument("--top", type=int, default=6,
                        help="most frequent op types to list per method")
    args = parser.parse_args(argv)
    batch = models.MODELS[args.model]["batch_size"]
    x, y = models.synthetic_data(args.model, 2 * batch)
    methods = ["erm", "floor", *keras_sam.variants.registered()]
    print(f"Ops per traced train_step, {args.model} "
          f"({len(models.build_model(args.model).trainable_variables)} "
          "trainable variables), constants excluded\n")
    print("| method | ops outside branches | ops in tf.cond branches | most frequent |")
    print("|---|---:|---:|---|")
    for method in methods:
        model, _ = step_time.build(method, args.model, jit=False)
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # builds state
        top, nested, by_type = count_ops(model, x[:batch], y[:batch])
        common = ", ".join(f"{op} {n}" for op, n in by_type.most_common(args.top))
        print(f"| {method} | {top} | {nested} | {common} |")


if __name__ == "__main__":
    main()
