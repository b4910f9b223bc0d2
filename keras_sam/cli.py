"""The half of `keras-sam benchmark` that needs Keras: runs parsed arguments.

The command line itself (parsing, --help, --version, the listings, the
checks for missing packages) is `keras_sam_cli`, which imports no backend and
imports this module only to train. Its names are re-exported here.
"""

from keras_sam_cli import (  # noqa: F401  (re-exported)
    DEFAULT_EPOCHS, DEFAULT_LABEL_NOISE, DEFAULT_OUTPUT, DEFAULT_SEEDS, UsageError,
    build_parser, fail, main, missing_requirements,
)
from keras_sam.bench import command, quiet


def run(args):
    """Runs `keras-sam benchmark` for parsed `args`; returns the exit code (0 or 2)."""
    quiet.quiet_python_loggers()
    try:
        return command.benchmark(args)
    except command.BadInput as error:
        return fail(error)
