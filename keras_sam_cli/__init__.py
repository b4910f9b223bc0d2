"""The `keras-sam` command's entry point; imports no Keras backend until it trains.

`keras-sam --help`, `--version`, `keras-sam variants` and `keras-sam datasets`
run on the standard library alone (importing `keras_sam` would import Keras
and its backend). `keras-sam benchmark` parses and checks its arguments, and
what its backend needs, first; only then does it import `keras_sam.cli`,
which loads the backend with its native log lines hidden.

Exit codes: 0 on success, 2 on bad input (unknown dataset, model or variant,
bad hyperparameters, label noise outside [0, 1), an unreachable dataset, a
backend or benchmark package that is not installed): one line on stderr,
no traceback.
"""

import importlib.util
import os
import subprocess
import sys

from keras_sam_cli import listing, quiet
from keras_sam_cli.arguments import BACKEND_CHOICES
from keras_sam_cli.parser import (
    DEFAULT_EPOCHS, DEFAULT_LABEL_NOISE, DEFAULT_OUTPUT, DEFAULT_SEEDS, UsageError,
    build_parser, version,
)


def missing_requirements(backend):
    """The extras (install hints) a benchmark on `backend` needs and lacks."""
    needed = {backend: backend, "mnist1d": "benchmark", "matplotlib": "benchmark",
              "tqdm": "benchmark"}
    return sorted({extra for module, extra in needed.items()
                   if importlib.util.find_spec(module) is None})


def fail(message):
    """Prints `message` as the one error line on stderr; returns exit code 2."""
    print(f"keras-sam: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def _loaded_backend():
    """The backend of an already imported Keras, or None."""
    keras = sys.modules.get("keras")
    return None if keras is None else keras.backend.backend()


def _benchmark(args, argv):
    extras = missing_requirements(args.backend)
    if extras:
        return fail(f"a benchmark on the {args.backend} backend needs what is not "
                    f"installed here: pip install 'keras-sam[{','.join(extras)}]'")
    quiet.configure(args.verbose)
    loaded = _loaded_backend()
    if loaded is not None and loaded != args.backend:
        # Keras fixes its backend when first imported, so (when a caller
        # already imported it) another backend runs in a fresh process.
        env = {**os.environ, "KERAS_BACKEND": args.backend}
        return subprocess.call([sys.executable, "-m", "keras_sam_cli", *argv], env=env)
    os.environ["KERAS_BACKEND"] = args.backend
    with quiet.native_stderr_silenced():
        from keras_sam import cli  # imports Keras and its backend
    return cli.run(args)


def main(argv=None):
    """Runs `keras-sam`; returns the exit code (0, or 2 on bad input)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as error:
        return fail(error)
    if args.command == "variants":
        print(listing.variants())
        return 0
    if args.command == "datasets":
        print(listing.datasets())
        return 0
    return _benchmark(args, argv)


__all__ = [
    "DEFAULT_EPOCHS", "DEFAULT_LABEL_NOISE", "DEFAULT_OUTPUT", "DEFAULT_SEEDS",
    "UsageError", "build_parser", "fail", "main", "missing_requirements", "version",
]
