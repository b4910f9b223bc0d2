"""`keras-sam benchmark`: turns parsed arguments into a run and its report."""

import sys

from keras_sam import data
from keras_sam import variants as variants_lib
from keras_sam.bench import arguments, quiet, report, runner


class BadInput(Exception):
    """Input the benchmark cannot run with; the CLI prints it as one line."""


def make_config(args):
    """A `BenchmarkConfig` from parsed arguments, with every variant checked.

    Raises:
        BadInput: unknown variant, malformed or invalid variant arguments.
    """
    try:
        variant_args = arguments.parse_variant_args(args.variant_args)
    except ValueError as error:
        raise BadInput(str(error)) from None
    table = variants_lib.registered()
    chosen = None
    if args.variants is not None:
        chosen = [v for v in dict.fromkeys(args.variants) if v != runner.ERM]
        unknown = [v for v in chosen if v not in table]
        if unknown:
            raise BadInput(
                f"unknown variant {unknown[0]!r}: choose from "
                f"{', '.join(sorted(table))} (ERM always runs)"
            )
    steps_per_execution = args.steps_per_execution
    torch = args.backend == "torch"
    if steps_per_execution is None:
        steps_per_execution = 1 if torch else 8
    elif torch and steps_per_execution != 1:
        raise BadInput(
            "--steps-per-execution must be 1 on the torch backend (Keras runs "
            f"PyTorch steps one at a time), got {steps_per_execution}"
        )
    config = runner.BenchmarkConfig(
        dataset=args.dataset,
        model=args.model,
        variants=chosen,
        variant_args=variant_args,
        rho=args.rho,
        seeds=list(args.seeds),
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate or arguments.DEFAULT_LEARNING_RATES[args.optimizer],
        label_noise=args.label_noise,
        num_samples=args.num_samples,
        steps_per_execution=steps_per_execution,
        flatness_rho=args.flatness_rho,
        flatness_samples=args.flatness_samples,
        hessian_iterations=args.hessian_iterations,
        data_dir=args.data_dir,
    )
    methods = runner.method_ids(config)
    for identifier in variant_args:
        if identifier not in methods:
            raise BadInput(
                f"--variant-args names {identifier!r}, which is not among the "
                f"chosen variants ({', '.join(methods[1:]) or 'none'})"
            )
    for identifier in methods[1:]:
        try:
            runner.make_variant(identifier, config)
        except ValueError as error:
            raise BadInput(str(error)) from None
    return config


def load_dataset(args):
    """Loads `args.dataset`; `BadInput` for unknown or unreachable datasets."""
    try:
        return data.load(
            args.dataset,
            data_dir=args.data_dir,
            num_samples=args.num_samples,
            download=not args.no_download,
        )
    except data.DatasetError as error:
        raise BadInput(str(error)) from None


def benchmark(args, out=None):
    """Runs `keras-sam benchmark` for parsed `args`; returns the exit code 0.

    Prints the table to `out` (stdout) and writes results.json, results.csv,
    results.png and table.md to `args.output`.
    """
    out = out or sys.stdout
    # The first variable created initializes TensorFlow's devices, whose
    # native runtime may log (e.g. a failed CUDA probe) whatever the log level.
    with quiet.native_stderr_silenced():
        config = make_config(args)
    dataset = load_dataset(args)
    if len(dataset.y_train) < config.batch_size:
        raise BadInput(
            f"--batch-size {config.batch_size} exceeds the {len(dataset.y_train)} "
            "training examples"
        )
    methods = runner.method_ids(config)
    print(
        f"keras-sam benchmark: {dataset.describe()}; label noise {config.label_noise}; "
        f"seeds {config.seeds}; {config.epochs} epoch(s); methods: "
        + ", ".join(runner.method_label(m) for m in methods),
        file=out,
        flush=True,
    )
    results = runner.run_benchmark(config, dataset, progress=not args.quiet)
    paths = report.write_all(results, args.output)
    print(report.format_table(results["summary"]), file=out)
    print(
        f"total {results['total_time_s']:.0f} s; wrote "
        + ", ".join(paths[k] for k in ("table", "json", "csv", "png")),
        file=out,
        flush=True,
    )
    return 0
