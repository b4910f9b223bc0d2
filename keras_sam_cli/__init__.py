"""The `keras-sam` command's entry point; imports no Keras backend until it trains.

`keras-sam --help`, `--version`, `keras-sam variants` and `keras-sam datasets`
run on the standard library alone (importing `keras_sam` would import Keras
and its backend). `keras-sam benchmark` parses and checks its arguments, and
what its backend needs, first; only then does it import the benchmark
harness (`keras_sam_bench.command`), which loads the backend, with the
native log lines hidden. The command line sits above the library: it
imports the harness, never the other way round.

Exit codes: 0 on success, 2 on bad input (unknown dataset, model or variant,
bad hyperparameters, label noise outside [0, 1), an unreachable dataset, an
--output that cannot be written, a backend or benchmark package that is not
installed): one line on stderr, no traceback; 130 after Ctrl-C, with one line
naming the `--resume` command that continues the run.
"""

import importlib.util
import os
import shlex
import subprocess
import sys

from keras_sam_cli import backends, listing, quiet
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


INTERRUPTED = 130  # the shell's code for a process ended by Ctrl-C (128 + SIGINT)


def _stored_runs(args):
    """Whether the output folder holds a runs.jsonl that `--resume` can continue."""
    folders = [args.output]
    if args.suite == "claims" and os.path.isdir(args.output):
        folders += [os.path.join(args.output, name) for name in sorted(os.listdir(args.output))]
    return any(os.path.isfile(os.path.join(folder, "runs.jsonl")) for folder in folders)


def interrupted(args, argv):
    """Prints the one line after Ctrl-C (what is kept, how to go on); returns 130."""
    if _stored_runs(args):
        resume = [a for a in argv if not (len(a) > 3 and "--overwrite".startswith(a))]
        resume += [] if args.resume else ["--resume"]
        message = (f"interrupted; every finished run is saved in {args.output}: "
                   f"`keras-sam {shlex.join(resume)}` (the same arguments with "
                   "--resume) continues, training only what is missing")
    else:
        message = ("interrupted before the first run was saved; nothing to resume: "
                   f"`keras-sam {shlex.join(argv)}` starts again")
    print(f"keras-sam: {message}", file=sys.stderr, flush=True)
    return INTERRUPTED


def _in_a_fresh_process(args, argv):
    # Keras fixes its backend when first imported, so (when a caller
    # already imported it) another backend runs in a fresh process, which
    # reports its own errors and interruption.
    env = {**os.environ, "KERAS_BACKEND": args.backend}
    with subprocess.Popen([sys.executable, "-m", "keras_sam_cli", *argv], env=env) as child:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:  # the child got the same Ctrl-C
                continue


def _benchmark(args, argv):
    if args.backend not in BACKEND_CHOICES:
        return fail(backends.unknown_backend(args.backend))
    extras = missing_requirements(args.backend)
    if extras:
        return fail(backends.missing(args.backend, extras))
    quiet.configure(args.verbose)
    loaded = _loaded_backend()
    if loaded is not None and loaded != args.backend:
        return _in_a_fresh_process(args, argv)
    os.environ["KERAS_BACKEND"] = args.backend
    try:
        with quiet.native_stderr_silenced():
            from keras_sam_bench import command  # imports Keras and its backend
        quiet.quiet_python_loggers()
        try:
            return command.benchmark(args, silenced=quiet.native_stderr_silenced)
        except command.BadInput as error:
            return fail(error)
    except KeyboardInterrupt:
        return interrupted(args, argv)


def main(argv=None):
    """Runs `keras-sam`; returns the exit code (0, 2 on bad input, 130 after Ctrl-C)."""
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
    "DEFAULT_EPOCHS", "DEFAULT_LABEL_NOISE", "DEFAULT_OUTPUT", "DEFAULT_SEEDS", "INTERRUPTED",
    "UsageError", "build_parser", "fail", "interrupted", "main", "missing_requirements",
    "version",
]
