"""Step time and peak memory of ERM, the hand-written SAM floor and every variant.

One process, side by side: for each model and `jit_compile` setting, every
method is built from the same initial weights, compiled with the same
optimizer and loss, warmed up (tracing, XLA compilation) and then timed on
the same synthetic batches (`shuffle=False`) in `--repeats` interleaved
rounds: each round runs one `fit` epoch of `--steps` steps per method, in an
order rotated every round, so that load drift on the machine falls on all
methods alike. Ratios are medians over rounds of the ratio within a round.

Methods: `erm` (plain `keras.Model.fit`), `floor` (`TwoPassSAM`, a minimal
hand-written two-pass SAM step, per backend: floor_<backend>.py) and every
variant registered in `keras_sam.variants` through `keras_sam.SAMModel`,
with default arguments.

    python benchmarks/step_time.py --output docs/benchmarks/step_time

writes `step_time.md` and `step_time.json`; docs/benchmarks/performance.md
explains the columns. The Keras backend is the `KERAS_BACKEND` environment
variable (TensorFlow when unset); nothing imports TensorFlow on the others:

    KERAS_BACKEND=jax python benchmarks/step_time.py --output step_time_jax
    KERAS_BACKEND=torch python benchmarks/step_time.py --jit off ...

(`--jit on` is XLA on TensorFlow and JAX, `torch.compile` on torch.)
`benchmarks/backends.py` runs it once per backend and compares them. How
peak memory is measured on each backend: step_time_memory.py.
"""

import argparse
import json
import os
import shlex
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import keras_sam  # noqa: E402
from keras_sam_bench import render, render_step_time  # noqa: E402
import step_time_measure as measure  # noqa: E402
import step_time_memory as peak_memory  # noqa: E402
import step_time_models as models  # noqa: E402
import step_time_report as report  # noqa: E402

ERM, FLOOR = report.ERM, report.FLOOR


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(models.DEFAULT_MODELS),
                        help="comma-separated subset of: " + ", ".join(models.MODELS))
    parser.add_argument("--variants", default="all",
                        help="comma-separated variant ids, or 'all' (every "
                             "registered variant)")
    parser.add_argument("--variant-args", type=json.loads, default={},
                        help='JSON {variant id: {argument: value}}, e.g. '
                             '\'{"look_sam": {"k": 1}}\'')
    parser.add_argument("--steps", type=int, default=None,
                        help="steps per timed epoch, the first --skip untimed "
                             "(default: per model, cnn 11, resnet 7, gru 7)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="interleaved timed rounds per method (default: per "
                             "model, cnn 15, resnet 7, gru 7)")
    parser.add_argument("--jit", choices=("off", "on", "both"), default="both")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="override every model's batch size")
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--skip", type=int, default=1,
                        help="steps at the start of each epoch left untimed")
    parser.add_argument("--memory", choices=("auto", "inline", "subprocess",
                                             "per_method", "off"),
                        default="auto",
                        help="where peak memory is measured: 'inline' in the timed "
                             "run, 'subprocess' in a second short jit-off run with "
                             "an allocator that counts everything (CPU), "
                             "'per_method' one short process per model, jit and "
                             "method (JAX on GPU); 'auto' picks "
                             "(step_time_memory.py)")
    parser.add_argument("--only", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--output", default=None,
                        help="path stem: writes STEM.md and STEM.json")
    args = parser.parse_args(argv)
    if args.memory == "auto":
        args.memory = peak_memory.auto_memory_mode()
    if (args.memory == "inline" and args.only is None
            and peak_memory.auto_memory_mode() == "per_method"):
        parser.error("this backend cannot reset its peak memory: use "
                     "--memory per_method (or auto)")
    args.models = [m for m in args.models.split(",") if m]
    for name in args.models:
        if name not in models.MODELS:
            parser.error(f"unknown model {name!r}; choose from {list(models.MODELS)}")
    table = keras_sam.variants.registered()
    args.variants = (list(table) if args.variants == "all"
                     else [v for v in args.variants.split(",") if v])
    for name in args.variants:
        if name not in table:
            parser.error(f"unknown variant {name!r}; registered: {sorted(table)}")
    for name in args.variant_args:
        if name not in args.variants:
            parser.error(f"--variant-args names {name!r}, which is not benchmarked")
    if args.only is not None:
        args.variants = [v for v in args.variants if v == args.only]
    for name in args.models:
        if (args.steps or models.MODELS[name]["steps"]) <= args.skip + 1:
            parser.error(f"{name}: the steps per epoch must exceed --skip + 1")
    return args


def build(method, model_name, jit, variant_args=None):
    """A compiled model for `method`; returns `(model, variant or None)`."""
    inner = models.build_model(model_name)
    variant = None
    if method == ERM:
        model = inner
    elif method == FLOOR:
        model = models.TwoPassSAM(inner)
    else:
        kwargs = (variant_args or {}).get(method, {})
        variant = keras_sam.variants.registered()[method](**kwargs)
        model = keras_sam.SAMModel(inner, variant=variant)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )
    return model, variant


def variant_callbacks(variant, total_steps):
    """The variant's own callbacks; a schedule over `total_steps` where it has one.

    AE-SAM's switch moves its threshold over the run's T steps; every timed
    `fit` is a one-epoch run, so T is fixed to the whole benchmark's steps.
    """
    if variant is None:
        return []
    return [type(cb)(total_steps=total_steps) if hasattr(cb, "total_steps") else cb
            for cb in variant.callbacks()]


def run_group(model_name, jit, methods, args, log):
    """Times every method on one model and jit setting; returns result rows."""
    batch = args.batch_size or models.MODELS[model_name]["batch_size"]
    steps = args.steps or models.MODELS[model_name]["steps"]
    repeats = args.repeats or models.MODELS[model_name]["repeats"]
    x, y = models.synthetic_data(model_name, steps * batch)
    total = args.warmup_steps + steps * repeats
    built, rounds = {}, {method: [] for method in methods}
    memory = args.memory == "inline"
    for method in methods:
        model, variant = build(method, model_name, jit, args.variant_args)
        callbacks = variant_callbacks(variant, total)
        start = time.perf_counter()
        model.fit(x[: args.warmup_steps * batch], y[: args.warmup_steps * batch],
                  batch_size=batch, epochs=1, shuffle=False, verbose=0,
                  callbacks=callbacks)
        built[method] = (model, variant, callbacks, time.perf_counter() - start)
    for round_ in range(repeats):
        shift = round_ % len(methods)
        for method in methods[shift:] + methods[:shift]:
            model, _, callbacks, _ = built[method]
            probe = measure.EpochProbe(skip=args.skip, memory=memory)
            model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0,
                      callbacks=[probe, *callbacks])
            rounds[method].append(probe)
        log(f"  {model_name} jit={'on' if jit else 'off'} round {round_ + 1}/"
            f"{repeats}: {methods[0]} "
            f"{1e3 * rounds[methods[0]][-1].seconds_per_step:.2f} ms/step")
    if args.only is not None:  # a per_method memory process: peaks only
        return [{"model": model_name, "jit": jit, "method": method,
                 "peak_mb": _peak_mb(rounds[method])} for method in methods]
    return [
        _row(model_name, jit, method, built[method], rounds, batch,
             steps - args.skip)
        for method in methods
    ]


def _per_round_ratios(rounds, method, reference):
    if reference not in rounds:
        return None
    return [a.seconds_per_step / b.seconds_per_step
            for a, b in zip(rounds[method], rounds[reference])]


def _row(model_name, jit, method, built, rounds, batch, timed_steps):
    model, variant, _, warmup = built
    probes = rounds[method]
    ratios = _per_round_ratios(rounds, method, ERM)
    floor_ratios = _per_round_ratios(rounds, method, FLOOR)
    fractions = [p.sam_fraction for p in probes if p.sam_fraction is not None]
    fraction = statistics.fmean(fractions) if fractions else None
    passes = report.predicted_passes(method, variant, fraction)
    floor_ratio = statistics.median(_per_round_ratios(rounds, FLOOR, ERM))
    inner = model.model if variant is not None else getattr(model, "inner", model)
    return {
        "model": model_name,
        "model_label": models.MODELS[model_name]["label"],
        "jit": jit,
        "method": method,
        "label": type(variant).__name__ if variant is not None else method,
        "k": getattr(variant, "k", None),
        "batch_size": batch,
        "timed_steps": timed_steps,
        "parameters": inner.count_params(),
        "warmup_s": round(warmup, 2),
        "times_ms": [round(1e3 * p.seconds_per_step, 4) for p in probes],
        "median_ms": 1e3 * statistics.median(p.seconds_per_step for p in probes),
        "ratios_erm": [round(r, 4) for r in ratios],
        "ratio_erm": statistics.median(ratios),
        "ratio_floor": (None if method in (ERM, FLOOR) or floor_ratios is None
                        else statistics.median(floor_ratios)),
        "sam_fractions": [round(f, 4) for f in fractions],
        "sam_fraction": fraction,
        "passes": passes,
        "predicted_ratio": report.calibrated_ratio(passes, floor_ratio),
        "peak_mb": _peak_mb(probes),
    }


def _peak_mb(probes):
    peaks = [p.peak_bytes for p in probes if p.peak_bytes is not None]
    return max(peaks) / 2**20 if peaks else None


def measure_memory(rows, args, mode, log=None):
    """Sets `peak_mb` (per `mode`) and `peak_delta_mb` (against ERM) in `rows`."""
    argv = ["--variants", ",".join(args.variants), "--repeats", "3",
            "--steps", str(args.skip + 3), "--skip", str(args.skip),
            "--warmup-steps", "2"]
    if args.batch_size:
        argv += ["--batch-size", str(args.batch_size)]
    if args.variant_args:
        argv += ["--variant-args", json.dumps(args.variant_args)]
    script = os.path.abspath(__file__)
    if mode == "subprocess":
        jit = "off" if args.jit != "on" else "on"
        peaks = peak_memory.peaks_in_subprocess(
            script, argv + ["--models", ",".join(args.models), "--jit", jit])
    elif mode == "per_method":
        peaks = peak_memory.peaks_per_method(
            script, argv, [(r["model"], r["jit"], r["method"]) for r in rows], log)
    for row in rows:
        if mode == "off":
            row["peak_mb"] = None
        elif mode in ("subprocess", "per_method"):
            row["peak_mb"] = peaks.get((row["model"], row["jit"], row["method"]))
    erm = {(r["model"], r["jit"]): r["peak_mb"] for r in rows if r["method"] == ERM}
    for row in rows:
        reference = erm.get((row["model"], row["jit"]))
        row["peak_delta_mb"] = (None if row["peak_mb"] is None or reference is None
                                else row["peak_mb"] - reference)


def _backend_prefix():
    backend = keras.backend.backend()
    return [] if backend == "tensorflow" else [f"KERAS_BACKEND={backend}"]


def main(argv=None):
    args = parse_args(argv)
    load_before, started = measure.load_average(), time.perf_counter()

    def log(message):
        print(f"[{time.perf_counter() - started:6.0f} s] {message}",
              file=sys.stderr, flush=True)

    jits = {"off": [False], "on": [True], "both": [False, True]}[args.jit]
    methods = [ERM, FLOOR] + args.variants
    if args.only is not None:
        methods = [args.only]
    rows = []
    for model_name in args.models:
        for jit in jits:
            log(f"{model_name} jit={'on' if jit else 'off'}: warming up "
                f"{len(methods)} methods")
            rows += run_group(model_name, jit, methods, args, log)
    memory = args.memory
    if args.only is not None:
        return _write(args, {"results": rows}, None, log)
    if memory in ("subprocess", "per_method"):
        log(f"measuring peak memory ({memory})")
    measure_memory(rows, args, memory, log)
    checks = report.targets(rows)
    result = {
        "command": shlex.join([*_backend_prefix(), "python", "benchmarks/step_time.py",
                               *(sys.argv[1:] if argv is None else argv)]),
        "config": {k: v for k, v in vars(args).items() if k != "output"},
        "machine": measure.machine(),
        "load_average_before": load_before,
        "load_average_after": measure.load_average(),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "memory": peak_memory.memory_note(memory),
        "targets": checks,
        "results": rows,
    }
    header = render_step_time.header(result)
    text = report.markdown(rows, checks, header)
    print(text)
    return _write(args, result, text, log)


def _write(args, result, text, log):
    if args.output:
        stem = os.path.splitext(args.output)[0]
        os.makedirs(os.path.dirname(stem) or ".", exist_ok=True)
        if text is not None:
            with open(stem + ".md", "w") as f:
                f.write(render.marked(stem + ".json", text))
        with open(stem + ".json", "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
        log(f"wrote {stem}.json" + ("" if text is None else f" and {stem}.md"))
    return result


if __name__ == "__main__":
    main()
