"""Which Keras backend `keras-sam benchmark` trains on, and which are installed.

Standard library only: the backend is chosen, and its absence reported, before
any of them is imported.

Without `--backend` the choice is Keras's own rule, so that the benchmark runs
where the user's other Keras programs run: `KERAS_BACKEND` if set (and not
empty), else the `"backend"` of Keras's configuration file `keras.json` (in
`KERAS_HOME`, else `~/.keras`, else `/tmp/.keras` when the home folder is not
writable), else TensorFlow. That rule is not changed behind the user's back
when its backend is not installed (Keras would fail there too); the error then
names the backends that are installed and the `--backend` that uses one.
"""

import importlib.util
import json
import os

from keras_sam_cli.arguments import BACKEND_CHOICES

KERAS_DEFAULT = "tensorflow"


def keras_config_path(environ=None):
    """The path of the `keras.json` Keras reads (it may not exist)."""
    environ = os.environ if environ is None else environ
    if "KERAS_HOME" in environ:
        folder = environ["KERAS_HOME"]
    else:
        base = os.path.expanduser("~")
        if not os.access(base, os.W_OK):
            base = "/tmp"
        folder = os.path.join(base, ".keras")
    return os.path.expanduser(os.path.join(folder, "keras.json"))


def default_backend(environ=None):
    """`(backend, where it came from)` by Keras's rule (see the module doc)."""
    environ = os.environ if environ is None else environ
    if environ.get("KERAS_BACKEND"):
        return environ["KERAS_BACKEND"], "KERAS_BACKEND"
    path = keras_config_path(environ)
    try:
        with open(path, encoding="utf-8") as f:
            backend = json.load(f).get("backend")
    except (OSError, ValueError, AttributeError):
        backend = None
    if isinstance(backend, str) and backend:
        return backend, path
    return KERAS_DEFAULT, None


def installed():
    """The backends whose package is installed, found without importing them."""
    return [name for name in BACKEND_CHOICES if importlib.util.find_spec(name) is not None]


def _source(backend, environ=None):
    """Why `backend` was chosen, for an error message (`""` if by `--backend`)."""
    default, source = default_backend(environ)
    if backend != default:
        return ""
    if source == "KERAS_BACKEND":
        return " (from KERAS_BACKEND)"
    if source is not None:
        return f" (the backend of {source})"
    return " (Keras's default, as KERAS_BACKEND is not set)"


def unknown_backend(backend):
    """The error for a `KERAS_BACKEND`/keras.json backend the benchmark has no step for."""
    _, source = default_backend()
    message = (f"{source or 'the default'} names the {backend!r} backend, which keras-sam "
               f"benchmark does not train on: pass --backend with one of "
               f"{', '.join(BACKEND_CHOICES)}")
    return message


def missing(backend, extras):
    """The error for a benchmark on `backend` whose `extras` are not installed."""
    message = (f"a benchmark on the {backend} backend{_source(backend)} needs what is "
               f"not installed here: pip install 'keras-sam[{','.join(extras)}]'")
    others = [name for name in installed() if name != backend]
    if backend in extras and others:
        message += (f"; or train on the installed {' or '.join(others)} backend: "
                    f"--backend {others[0]}")
    return message
