"""Counts the ops one training step runs, per method: where a tiny model's
step time goes when the passes themselves are cheap.

Each method's `train_step` (as in `step_time.py`: ERM, the hand-written
floor, every registered variant through `SAMModel`) is counted on the
running Keras backend (`KERAS_BACKEND`, TensorFlow when unset):

- tensorflow: traced into a graph; its ops, constants left out, including
  the ops inside `tf.cond` branches (both branches: only one runs);
- jax: traced into a jaxpr; its equations, with those of nested jaxprs
  (jit, custom derivatives, scans) counted where they are and those inside
  `lax.cond` branches (both) apart;
- torch: run eagerly once under a `TorchDispatchMode`: the aten ops it
  dispatches (forward and backward), only the branch taken.

Deterministic, unlike timings.

    python benchmarks/step_ops.py --model cnn
    KERAS_BACKEND=jax python benchmarks/step_ops.py --model cnn
"""

import argparse
import collections
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import keras_sam  # noqa: E402
import step_time  # noqa: E402
import step_time_models as models  # noqa: E402

FREE = {"Const", "Placeholder", "NoOp"}
BRANCHES = {"tensorflow": "tf.cond branches", "jax": "lax.cond branches",
            "torch": "untaken branches (eager: not run)"}


def _count_tensorflow(model, x, y):
    import tensorflow as tf
    graph = tf.function(model.train_step).get_concrete_function(
        (tf.constant(x), tf.constant(y))
    ).graph.as_graph_def()
    top = [n.op for n in graph.node if n.op not in FREE]
    nested = [n.op for f in graph.library.function for n in f.node_def
              if n.op not in FREE]
    return top, nested


def _count_jax(model, x, y):
    import jax
    from jax.extend.core import jaxprs_in_params

    state = ([v.value for v in model.trainable_variables],
             [v.value for v in model.non_trainable_variables],
             [v.value for v in model.optimizer.variables],
             [v.value for v in model.metrics_variables])
    closed = jax.make_jaxpr(model.train_step)(state, (x, y))
    top, nested = [], []

    def walk(jaxpr, out):
        for eqn in jaxpr.eqns:
            inner = list(jaxprs_in_params(eqn.params))
            if eqn.primitive.name == "cond":
                out.append("cond")
                for branch in inner:
                    walk(branch, nested)
            elif inner:
                for sub in inner:
                    walk(sub, out)
            else:
                out.append(eqn.primitive.name)

    walk(closed.jaxpr, top)
    return top, nested


def _count_torch(model, x, y):
    from torch.utils._python_dispatch import TorchDispatchMode

    ops = []

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            ops.append(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    data = (keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y))
    with Count():
        model.train_step(data)
    return ops, []


def count_ops(model, x, y):
    """`(ops outside branches, ops inside branches, Counter by type)`."""
    top, nested = globals()[f"_count_{keras.backend.backend()}"](model, x, y)
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
    verb = "run" if keras.backend.backend() == "torch" else "traced"
    print(f"Ops per {verb} train_step ({keras.backend.backend()}), {args.model} "
          f"({len(models.build_model(args.model).trainable_variables)} "
          "trainable variables), constants excluded\n")
    print(f"| method | ops outside branches | ops in "
          f"{BRANCHES[keras.backend.backend()]} | most frequent |")
    print("|---|---:|---:|---|")
    for method in methods:
        model, _ = step_time.build(method, args.model, jit=False)
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # builds state
        top, nested, by_type = count_ops(model, x[:batch], y[:batch])
        common = ", ".join(f"{op} {n}" for op, n in by_type.most_common(args.top))
        nested = "–" if keras.backend.backend() == "torch" else nested
        print(f"| {method} | {top} | {nested} | {common} |")


if __name__ == "__main__":
    main()
