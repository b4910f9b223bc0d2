"""Command-line arguments of `keras-sam benchmark` and their validation.

Standard library only: `keras-sam --help` and `keras-sam datasets` read this
module without importing a Keras backend.
"""

import argparse
import ast
import os

MODEL_CHOICES = ("auto", "cnn", "gru", "resnet")
BACKEND_CHOICES = ("tensorflow", "jax", "torch")
DEFAULT_LEARNING_RATES = {"sgd": 0.05, "adam": 1e-3}
OPTIMIZER_CHOICES = tuple(DEFAULT_LEARNING_RATES)
SCHEDULE_CHOICES = ("cosine", "constant")
SUITE_CHOICES = ("methods", "claims")

# What `--dataset` takes and `keras-sam datasets` lists: (name, what it is,
# the model `--model auto` picks for it, the extra that installs its loader).
DATASETS = (
    ("mnist1d", "1-D signals, 10 classes, generated offline (the default)", "cnn",
     "benchmark"),
    ("cifar10", "tensorflow-datasets: 32x32 colour images, 10 classes", "resnet",
     "examples"),
    ("mnist", "tensorflow-datasets: 28x28 digits, 10 classes", "resnet", "examples"),
    ("imdb_reviews", "tensorflow-datasets: movie reviews, 2 classes", "gru", "examples"),
)
OTHER_DATASETS = ("any other tensorflow-datasets classification dataset with a "
                  "'train' split and a 'test' or 'validation' split")


def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text):
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def noise_fraction(text):
    """argparse type: a label-noise fraction in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"label noise must be in [0, 1), got {text!r}")
    return value


def seeds(text):
    """argparse type: `N` means seeds 0..N-1; a comma list (`0,5`) names them."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [int(p) for p in parts if p]
    except ValueError:
        values = []
    if not values or any(v < 0 for v in values) or (
        "," not in text and values[0] < 1
    ):
        raise argparse.ArgumentTypeError(
            f"expected a seed count >= 1 (2) or a comma list of seeds (0,1), got {text!r}"
        )
    if "," not in text:
        return list(range(values[0]))
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"seeds repeat in {text!r}")
    return values


def comma_list(text):
    """argparse type: a non-empty comma-separated list of names (lower case)."""
    names = [p.strip().lower().replace("-", "_") for p in text.split(",") if p.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected a comma list of names, got {text!r}")
    return names


def output_folder(text):
    """argparse type: a folder the benchmark can write its results to.

    It may exist (a folder you can write to) or not (it is created, with any
    missing parents, when the run starts); the nearest existing folder above
    it must be writable. Checked here, before any backend is imported, so a
    typo costs one line instead of a traceback after the start-up.
    """
    path = os.path.abspath(text)
    if os.path.exists(path) and not os.path.isdir(path):
        raise argparse.ArgumentTypeError(
            f"{text!r} is a file, not a folder: name a folder for the results "
            "(it is created if missing)")
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise argparse.ArgumentTypeError(
            f"{text!r} cannot be created: {existing!r} is a file, not a folder; "
            "choose another folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "is" if existing == path else f"would be created in {existing!r}, which is"
        raise argparse.ArgumentTypeError(
            f"{text!r} {where} not writable here: choose a folder you can write to")
    return text


def _value(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_variant_args(specs):
    """Parses `['sam:rho=0.1', 'look_sam:k=10,alpha=0.5;gam:rho=0.3']`.

    Each spec is `ID:NAME=VALUE[,NAME=VALUE...]`; specs may also be joined
    with `;`. Values are Python literals (`0.1`, `10`, `True`), else strings.

    Returns:
        `{variant id: {argument: value}}`.

    Raises:
        ValueError: a malformed spec (the message quotes it).
    """
    parsed = {}
    for spec in [s for item in specs or () for s in item.split(";") if s.strip()]:
        identifier, sep, body = spec.partition(":")
        identifier = identifier.strip().lower().replace("-", "_")
        if not sep or not identifier or not body.strip():
            raise ValueError(
                f"--variant-args expects ID:NAME=VALUE[,NAME=VALUE], got {spec!r}"
            )
        kwargs = parsed.setdefault(identifier, {})
        for pair in body.split(","):
            name, eq, value = pair.partition("=")
            if not eq or not name.strip() or not value.strip():
                raise ValueError(
                    f"--variant-args expects NAME=VALUE pairs, got {pair!r} in {spec!r}"
                )
            kwargs[name.strip()] = _value(value.strip())
    return parsed


def resolve(args):
    """Fills in, on parsed `benchmark` arguments, what the harness receives resolved.

    `variant_args` becomes `{variant id: {argument: value}}` (see
    `parse_variant_args`) and an unset `learning_rate` the default of the
    chosen optimizer, so the benchmark harness (which the command imports
    only to train) needs nothing from this module.

    Raises:
        ValueError: a malformed `--variant-args` spec (the message quotes it).
    """
    if not isinstance(args.variant_args, dict):
        args.variant_args = parse_variant_args(args.variant_args)
    if args.learning_rate is None:
        args.learning_rate = DEFAULT_LEARNING_RATES[args.optimizer]
    return args


def add_benchmark_arguments(parser, defaults):
    """Adds the `benchmark` options to `parser`; `defaults` names the sized ones."""
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", default=DATASETS[0][0],
                      help=f"{DATASETS[0][0]!r} (offline, default) or a "
                           "tensorflow-datasets name such as "
                           + ", ".join(name for name, *_ in DATASETS[1:])
                           + " (list: keras-sam datasets)")
    data.add_argument("--data-dir", default=None,
                      help="tensorflow-datasets data directory (its default if unset)")
    data.add_argument("--no-download", action="store_true",
                      help="use only a local tfds copy; never download")
    data.add_argument("--num-samples", type=positive_int, default=None,
                      help="train + test examples to use (80/20); mnist1d default "
                           "10000, tfds default: full splits")
    data.add_argument("--label-noise", type=noise_fraction, default=defaults["label_noise"],
                      help="symmetric label noise on the training labels only, in [0, 1) "
                           "(default: %(default)s)")
    training = parser.add_argument_group("training")
    training.add_argument("--model", choices=MODEL_CHOICES, default="auto",
                          help="auto: cnn for mnist1d, resnet for images, gru for text")
    training.add_argument("--variants", type=comma_list, default=None,
                          help="comma list of variant ids (default: every registered "
                               "variant; list: keras-sam variants); ERM always runs "
                               "as the baseline")
    training.add_argument("--rho", type=positive_float, default=None,
                          help="rho for every variant (default: each variant's own)")
    training.add_argument("--variant-args", action="append", default=[], metavar="ID:K=V,...",
                          help="per-variant arguments, e.g. 'sam:rho=0.1' or "
                               "'look_sam:k=10,alpha=0.5'; repeat or join with ';'")
    training.add_argument("--seeds", type=seeds, default=defaults["seeds"],
                          help="a count N (seeds 0..N-1) or a comma list (default: "
                               f"{len(defaults['seeds'])})")
    training.add_argument("--epochs", type=positive_int, default=defaults["epochs"],
                          help="epochs per run (default: %(default)s)")
    training.add_argument("--batch-size", type=positive_int, default=128,
                          help="(default: %(default)s)")
    training.add_argument("--optimizer", choices=OPTIMIZER_CHOICES, default="sgd",
                          help="base optimizer: sgd (momentum 0.9) or adam "
                               "(default: %(default)s)")
    training.add_argument("--schedule", choices=SCHEDULE_CHOICES, default="cosine",
                          help="learning rate: cosine decay to 0 over the run, or "
                               "constant (default: %(default)s)")
    training.add_argument("--learning-rate", type=positive_float, default=None,
                          help="base optimizer's learning rate (default: "
                               + ", ".join(f"{k} {v}" for k, v in DEFAULT_LEARNING_RATES.items())
                               + ")")
    training.add_argument("--backend", choices=BACKEND_CHOICES, default=defaults["backend"],
                          help="Keras backend to train on (default: as Keras picks it: "
                               "KERAS_BACKEND, else keras.json's backend, else "
                               "tensorflow; here %(default)s)")
    training.add_argument("--steps-per-execution", type=positive_int, default=None,
                          help="steps per compiled call, as in Model.compile "
                               "(default: 8; 1 on torch, which allows no other)")
    protocol = parser.add_argument_group("protocol")
    protocol.add_argument("--suite", choices=SUITE_CHOICES, default="methods",
                          help="methods: one table of every chosen method; claims: each "
                               "seed paper's claim in its regime with a computed verdict "
                               "(sets dataset, model, optimizer, noise and methods per "
                               "task) (default: %(default)s)")
    protocol.add_argument("--tune", action="store_true",
                          help="choose each variant's key hyperparameters (rho; alpha for "
                               "the LookSAM family; rho' for GAM) from its grid, extended "
                               "past an edge it chooses (up to its ends /4 and x4), by the "
                               "mean validation accuracy over seeds 0 and 1, each on its "
                               "own 20%% validation split of the training data")
    protocol.add_argument("--resume", action="store_true",
                          help="continue an interrupted run in --output (same arguments)")
    protocol.add_argument("--overwrite", action="store_true",
                          help="replace the results already in --output")
    measure = parser.add_argument_group("flatness and output")
    measure.add_argument("--flatness-rho", type=positive_float, default=0.05,
                         help="radius of the sharpness measure (default: %(default)s)")
    measure.add_argument("--flatness-samples", type=positive_int, default=1000,
                         help="training examples in the fixed flatness batch "
                              "(default: %(default)s)")
    measure.add_argument("--hessian-iterations", type=positive_int, default=20,
                         help="power iterations for the top Hessian eigenvalue "
                              "(default: %(default)s)")
    measure.add_argument("--output", type=output_folder, default=defaults["output"],
                         help="output folder, created with its parents if missing "
                              "(default: ./%(default)s)")
    measure.add_argument("--quiet", action="store_true", help="no progress bars")
    measure.add_argument("--verbose", action="store_true",
                         help="also show the backend's own log lines (TensorFlow's and "
                              "absl's start-up and device messages), hidden by default")
    return parser
