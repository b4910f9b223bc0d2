"""The `keras-sam` command. `keras-sam benchmark` compares ERM with SAM variants.

Exit codes: 0 on success, 2 on bad input (unknown dataset, model or variant,
bad hyperparameters, label noise outside [0, 1), an unreachable dataset, a
backend or benchmark package that is not installed): one line on stderr,
no traceback.
"""

import argparse
import importlib.util
import os
import subprocess
import sys

DEFAULT_EPOCHS = 20
DEFAULT_SEEDS = "2"
DEFAULT_LABEL_NOISE = 0.3
DEFAULT_OUTPUT = "keras-sam-benchmark"

DESCRIPTION = f"""\
Train the same model with ERM (the base optimizer alone) and with each SAM
variant, on the same data and seeds; print one row per method (test
accuracy mean ± std over seeds, the per-seed paired difference to ERM and to
SAM with its 95 % interval, wall time, step time relative to ERM,
sam_fraction, flatness) and write runs.jsonl (one line per finished run),
results.json, results.csv, results.png and table.md to --output.

Defaults (no arguments): MNIST-1D generated offline (10 000 samples: 8 000
train / 2 000 test), the 1-D CNN, SGD with momentum 0.9 at learning rate
0.05 with cosine decay to 0 (the SAM papers' CNN protocol; the curves
flatten by the last epoch), batch 128, {DEFAULT_EPOCHS} epochs, {DEFAULT_SEEDS} seeds (0 and
1), {int(DEFAULT_LABEL_NOISE * 100)} % symmetric label noise on the training labels only, ERM vs
every registered variant with its default hyperparameters. Sized to finish
in under 10 minutes on 2 CPU cores.

--suite claims runs each seed paper's claim in its regime (a noisy-label
CNN task and a GRU task) and writes claims.md/claims.json: the claim, the
paired difference measured here and a verdict computed from it.
"""

EPILOG = """\
examples:
  keras-sam benchmark
  keras-sam benchmark --variants sam,look_sam --rho 0.1 --epochs 40
  keras-sam benchmark --variant-args 'look_sam:k=10,alpha=0.5' --seeds 0,1,2
  keras-sam benchmark --dataset cifar10 --data-dir ~/tensorflow_datasets --num-samples 5000
  keras-sam benchmark --dataset imdb_reviews --model gru --label-noise 0
  keras-sam benchmark --backend jax
  keras-sam benchmark --optimizer adam --learning-rate 1e-3 --variants sam,look_sam
  keras-sam benchmark --suite claims --tune --seeds 3 --output claims
  keras-sam benchmark --suite claims --tune --seeds 3 --output claims --resume

TensorFlow's native logs are hidden (TF_CPP_MIN_LOG_LEVEL=3) unless you set
TF_CPP_MIN_LOG_LEVEL yourself.
"""


class UsageError(Exception):
    """Bad input: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line on stderr and exit 2."""

    def error(self, message):
        raise UsageError(message)


def _loaded_backend():
    """The backend of an already imported Keras, else the one it will load."""
    keras = sys.modules.get("keras")
    if keras is not None:
        return keras.backend.backend()
    return os.environ["KERAS_BACKEND"]


def build_parser():
    """The argument parser of `keras-sam` (subcommand `benchmark`)."""
    from keras_sam.bench import arguments

    from keras_sam import __version__

    parser = _Parser(prog="keras-sam", description="Sharpness-Aware Minimization for Keras 3.")
    parser.add_argument("--version", action="version", version=f"keras-sam {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    benchmark = commands.add_parser(
        "benchmark",
        help="compare ERM and SAM variants on one dataset",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    arguments.add_benchmark_arguments(
        benchmark,
        defaults={
            "epochs": DEFAULT_EPOCHS,
            "seeds": arguments.seeds(DEFAULT_SEEDS),
            "label_noise": DEFAULT_LABEL_NOISE,
            "output": DEFAULT_OUTPUT,
            "backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
        },
    )
    return parser


def _requested_backend(argv):
    """The value of `--backend` in `argv`, or None."""
    for i, arg in enumerate(argv):
        if arg == "--backend" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--backend="):
            return arg.split("=", 1)[1]
    return None


def missing_requirements(backend):
    """Install hints for what a benchmark on `backend` needs and lacks."""
    needed = {backend: backend, "mnist1d": "benchmark", "matplotlib": "benchmark",
              "tqdm": "benchmark"}
    extras = sorted({extra for module, extra in needed.items()
                     if importlib.util.find_spec(module) is None})
    return extras


def main(argv=None):
    """Entry point of `keras-sam`; returns the exit code (0, or 2 on bad input)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from keras_sam.bench.arguments import BACKEND_CHOICES

    backend = _requested_backend(argv)
    target = backend if backend in BACKEND_CHOICES else _loaded_backend()
    extras = missing_requirements(target) if "benchmark" in argv and not (
        {"-h", "--help"} & set(argv)) else []
    if extras:
        print(
            f"keras-sam: error: a benchmark on the {target} backend needs what is not "
            f"installed here: pip install 'keras-sam[{','.join(extras)}]'",
            file=sys.stderr,
        )
        return 2
    if backend in BACKEND_CHOICES and backend != _loaded_backend():
        # Keras fixes its backend when first imported (importing keras_sam
        # did), so another backend runs in a fresh process.
        env = {**os.environ, "KERAS_BACKEND": backend}
        return subprocess.call([sys.executable, "-m", "keras_sam", *argv], env=env)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from keras_sam.bench import quiet

    with quiet.native_stderr_silenced():
        import keras  # noqa: F401  (loads TensorFlow while its native logs are hidden)

        from keras_sam.bench import command
    quiet.quiet_python_loggers()
    try:
        args = build_parser().parse_args(argv)
        return command.benchmark(args)
    except (UsageError, command.BadInput) as error:
        message = " ".join(str(error).split())
        print(f"keras-sam: error: {message}", file=sys.stderr)
        return 2
