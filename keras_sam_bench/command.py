"""`keras-sam benchmark`: turns parsed arguments into a run and its report.

The command line (`keras_sam_cli`, above this harness) parses and resolves
the arguments (`keras_sam_cli.arguments.resolve`: `variant_args` as
`{id: {argument: value}}`, `learning_rate` set) and imports this module only
to train; nothing here imports the command line.
"""

import contextlib
import dataclasses
import json
import os
import sys

from keras_sam_bench import data
from keras_sam import variants as variants_lib
from keras_sam_bench import claims, costs, report, runner, store, verdicts


class BadInput(Exception):
    """Input the benchmark cannot run with; the CLI prints it as one line."""


def make_config(args, task=None):
    """A `BenchmarkConfig` from parsed arguments, with every variant checked.

    `task` (a `claims.Task`) sets the fields its regime fixes; variant
    arguments naming a variant the task does not run are ignored for it.

    Raises:
        BadInput: unknown variant or invalid variant arguments.
    """
    variant_args = {k: dict(v) for k, v in args.variant_args.items()}
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
        learning_rate=args.learning_rate,
        schedule=args.schedule,
        label_noise=args.label_noise,
        num_samples=args.num_samples,
        steps_per_execution=steps_per_execution,
        flatness_rho=args.flatness_rho,
        flatness_samples=args.flatness_samples,
        hessian_iterations=args.hessian_iterations,
        data_dir=args.data_dir,
    )
    if task is not None:
        epochs, num_samples = task.resolve(args.epochs, args.num_samples)
        config = dataclasses.replace(
            config, **task.config, epochs=epochs, num_samples=num_samples)
        config.variant_args = {
            k: v for k, v in variant_args.items() if k in config.variants
        }
    methods = runner.method_ids(config)
    for identifier in variant_args if task is None else ():
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


def _no_download_bars(args):
    """tfds's download bars only on a terminal and without --quiet (else one line per update)."""
    interactive = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    if args.dataset.strip().lower() == "mnist1d" or (interactive and not args.quiet):
        return
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        return
    tfds.disable_progress_bar()


def load_dataset(args, num_samples=None):
    """Loads `args.dataset`; `BadInput` for unknown or unreachable datasets."""
    _no_download_bars(args)
    try:
        return data.load(
            args.dataset,
            data_dir=args.data_dir,
            num_samples=num_samples or args.num_samples,
            download=not args.no_download,
        )
    except data.DatasetUnavailableError as error:
        if args.no_download:
            reason, fix = "--no-download is set", "or drop --no-download to download it"
        else:
            reason, fix = error.reason, "and --no-download not to try downloading"
        raise BadInput(
            f"dataset {error.dataset!r} has no local copy in {error.where} and {reason}: "
            f"pass --data-dir DIR with a copy prepared where there is network (`tfds "
            f"build {error.dataset} --data_dir DIR`), {fix}"
        ) from None
    except data.DatasetError as error:
        raise BadInput(str(error)) from None


def _tasks(args):
    """`[(task or None, output folder)]` for `args.suite`."""
    if args.suite == "methods":
        return [(None, args.output)]
    fixed = [flag for flag, value, default in (
        ("--dataset", args.dataset, "mnist1d"), ("--model", args.model, "auto"),
        ("--variants", args.variants, None),
    ) if value != default]
    if fixed:
        raise BadInput(
            f"--suite claims sets {', '.join(fixed)} per task (see --help); drop "
            f"{'it' if len(fixed) == 1 else 'them'} or use --suite methods"
        )
    return [(task, os.path.join(args.output, task.name)) for task in claims.TASKS]


def _open_store(config, output, args):
    record = {**dataclasses.asdict(config), "tune": args.tune,
              "backend": args.backend}
    resume = args.resume
    if resume and args.suite == "claims" and os.path.isdir(args.output):
        # A task added to the suite since the run being resumed starts anew.
        resume = os.path.exists(os.path.join(output, store.FILENAME))
    try:
        return store.RunStore(output, record, resume=resume, overwrite=args.overwrite)
    except store.StoreError as error:
        raise BadInput(str(error)) from None


def benchmark(args, out=None, silenced=contextlib.nullcontext):
    """Runs `keras-sam benchmark` for parsed `args`; returns the exit code 0.

    Prints each task's table (and, for `--suite claims`, the claims table)
    to `out` (stdout) and writes runs.jsonl, results.json, results.csv,
    results.png and table.md to each task's folder (claims.md and
    claims.json to `args.output`). `silenced` is the caller's context
    manager that hides the native runtime's start-up lines (the command
    line's `quiet.native_stderr_silenced`); by default nothing is hidden.
    """
    out = out or sys.stdout
    if args.resume and args.overwrite:
        raise BadInput("--resume continues the runs in --output and --overwrite "
                       "discards them: pass one of them")
    # The first variable created initializes TensorFlow's devices, whose
    # native runtime may log (e.g. a failed CUDA probe) whatever the log level.
    with silenced():
        plans = [(task, make_config(args, task), output) for task, output in _tasks(args)]
    datasets = [load_dataset(args, config.num_samples) for _, config, _ in plans]
    for dataset in datasets:
        if len(dataset.y_train) < args.batch_size:
            raise BadInput(
                f"--batch-size {args.batch_size} exceeds the {len(dataset.y_train)} "
                "training examples"
            )
    stores = [_open_store(config, output, args) for _, config, output in plans]
    results_by_task = {}
    for (task, config, output), run_store, dataset in zip(plans, stores, datasets):
        methods = runner.method_ids(config)
        print(
            (f"[{task.name}] {task.description}\n" if task else "")
            + f"keras-sam benchmark: {dataset.describe()}; {config.optimizer} "
            f"lr {config.learning_rate:g} ({config.schedule}); label noise "
            f"{config.label_noise}; seeds {config.seeds}; {config.epochs} epoch(s); "
            + ("hyperparameters tuned on a validation split; " if args.tune else "")
            + "methods: " + ", ".join(runner.method_label(m) for m in methods),
            file=out, flush=True,
        )
        results = runner.run_benchmark(config, dataset, run_store,
                                       progress=not args.quiet, tune=args.tune)
        paths = report.write_all(results, output)
        print(report.format_results(results), file=out)
        print(
            f"total {results['total_time_s']:.0f} s; wrote "
            + ", ".join(paths[k] for k in ("table", "json", "csv", "png")),
            file=out, flush=True,
        )
        results_by_task[task.name if task else "methods"] = results
        if args.suite == "claims":  # after each task: a partial run is reported too
            pending = [t.name for t, _, _ in plans if t.name not in results_by_task]
            _write_claims(args.output, results_by_task, pending, out)
    return 0


def _write_claims(output, results_by_task, pending, out):
    """claims.md and claims.json: every claim's verdict, the regime checks
    and the cost measurement they rest on; the claims of `pending` tasks
    are "not tested" until their task has run."""
    cost = costs.load(output)
    document = {
        "margin": claims.MARGIN,
        "claims": verdicts.evaluate_all(results_by_task, cost, pending),
        "regimes": verdicts.regime_rows(results_by_task, cost),
        "cost_measurement": None if cost is None else cost["command"],
    }
    text = verdicts.format_document(document)
    with open(os.path.join(output, "claims.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(output, "claims.json"), "w") as f:
        json.dump(document, f, indent=2)
        f.write("\n")
    print(text, file=out)
