"""The `keras-sam` argument parser, its help text and the package version.

Standard library only, so `--help` and `--version` need no Keras backend.
"""

import argparse
import ast
import importlib.util

from keras_sam_cli import arguments, backends

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
every registered variant with its default hyperparameters: 2 runs of 20
epochs per method, so the time grows with the number of methods (the
committed run and its times: docs/benchmarks/mnist1d.md); --variants picks
a subset.

--suite claims runs each paper's claim in its regime (noisy_cnn: the CNN
trained until ERM memorizes 30 % noisy labels; clean_cnn: the CNN on clean
labels; gru: a trained GRU), checks from each run that the regime was
reached, and writes claims.md/claims.json after each task: the claim, the
paired difference measured here and a verdict computed from it ("not
tested" where a regime check failed). Cost claims in step time read
cost/step_time.json in --output (benchmarks/step_time.py, interleaved).
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
  keras-sam benchmark --suite claims --tune --seeds 8 --output claims
  keras-sam benchmark --suite claims --tune --seeds 8 --output claims --resume

TensorFlow's and absl's own log lines (start-up, devices) are hidden unless
you pass --verbose or set TF_CPP_MIN_LOG_LEVEL below 3 yourself.
"""

TOP_EPILOG = """\
keras-sam --help, --version, variants and datasets import no Keras backend;
benchmark loads the one chosen with --backend (default: as Keras picks it,
KERAS_BACKEND, else keras.json's backend, else tensorflow). See
'keras-sam COMMAND --help'.
"""


class UsageError(Exception):
    """Bad input: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line on stderr and exit 2."""

    def error(self, message):
        raise UsageError(message)


class _CommandParser(_Parser):
    """The top parser: `benchmark`'s arguments come out resolved (`arguments.resolve`)."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if getattr(namespace, "command", None) == "benchmark":
            try:
                arguments.resolve(namespace)
            except ValueError as error:
                self.error(str(error))
        return namespace, extras


def version():
    """`keras_sam.__version__`, read from its source without importing keras_sam.

    Importing the package imports Keras and its backend; the assignment
    `__version__ = "..."` in keras_sam/__init__.py is read with `ast` instead,
    so the version has that one source.
    """
    spec = importlib.util.find_spec("keras_sam")
    with open(spec.origin, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=spec.origin)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(target, "id", None) == "__version__" for target in node.targets):
            return ast.literal_eval(node.value)
    raise LookupError(f"no __version__ assignment in {spec.origin}")


def build_parser():
    """The argument parser of `keras-sam` (benchmark, variants, datasets)."""
    parser = _CommandParser(prog="keras-sam", description="Sharpness-Aware Minimization for Keras 3.",
                     epilog=TOP_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"keras-sam {version()}")
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
            "backend": backends.default_backend()[0],
        },
    )
    commands.add_parser(
        "variants", help="list the variant ids, their classes and default hyperparameters",
        description="List each variant `--variants` and keras_sam.variants.get accept: "
                    "its id, its class and its constructor's defaults.")
    commands.add_parser(
        "datasets", help="list the datasets `benchmark --dataset` takes",
        description="List the datasets `keras-sam benchmark --dataset` takes, the model "
                    "`--model auto` picks for each and the extra that installs it.")
    return parser
