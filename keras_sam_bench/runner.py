"""Runs the benchmark: ERM and each SAM variant on the same data and seeds.

For every seed, the labels (with the seed's label noise), the initial
weights and the batch order are the same for every method, and on every
Keras backend (drawn with NumPy, see `reproducible.py`); ERM is a plain `keras.Model`
`fit` with the base optimizer, a variant is the same model wrapped in
`keras_sam.SAMModel`.
"""

import dataclasses
import inspect
import math
import time

import keras
import numpy as np

from keras_sam import flatness
from keras_sam import variants as variants_lib
from keras_sam_bench import models, reproducible, summary, tuning
from keras_sam_bench.progress import EpochProgress, overall_bar
from keras_sam_bench.store import RunStore
from keras_sam_bench.timing import StepTimer
from keras_sam_bench.data import symmetric_label_noise
from keras_sam.sam_model import SAMModel

ERM = summary.ERM
method_label = summary.method_label


@dataclasses.dataclass
class BenchmarkConfig:
    """Everything a benchmark run depends on (written into results.json)."""

    dataset: str = "mnist1d"
    model: str = "auto"
    variants: list = None  # ids; None means every registered variant
    variant_args: dict = dataclasses.field(default_factory=dict)  # id -> kwargs
    rho: float = None  # overrides every variant's default rho when set
    seeds: list = dataclasses.field(default_factory=lambda: [0, 1])
    epochs: int = 20
    batch_size: int = 128
    optimizer: str = "sgd"  # SGD with momentum 0.9, or "adam"
    learning_rate: float = 0.05
    schedule: str = "cosine"  # or "constant"
    label_noise: float = 0.3
    num_samples: int = None
    steps_per_execution: int = 8
    flatness_rho: float = 0.05
    flatness_samples: int = 1000
    hessian_iterations: int = 20
    data_dir: str = None


def method_ids(config):
    """`["erm", *variant ids]` in the order they will run."""
    chosen = list(variants_lib.registered()) if config.variants is None else config.variants
    return [ERM] + [v for v in chosen if v != ERM]


def variant_arguments(cls):
    """The names a variant's constructor takes (what `--variant-args` may set)."""
    return [p.name for p in inspect.signature(cls).parameters.values()
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


def make_variant(identifier, config):
    """A fresh variant instance with `--rho` and `--variant-args` applied."""
    table = variants_lib.registered()
    if identifier not in table:
        raise ValueError(
            f"unknown variant {identifier!r}: choose from {', '.join(sorted(table))}"
        )
    kwargs = dict(config.variant_args.get(identifier, {}))
    names = variant_arguments(table[identifier])
    unknown = [name for name in kwargs if name not in names]
    if unknown:
        raise ValueError(
            f"variant {identifier!r}: unexpected keyword argument {unknown[0]!r}; its "
            f"arguments are {', '.join(names)} (defaults: keras-sam variants)"
        )
    if config.rho is not None:
        kwargs.setdefault("rho", config.rho)
    try:
        return table[identifier](**kwargs)
    except (TypeError, ValueError) as error:
        raise ValueError(f"variant {identifier!r}: {error}") from None


def _compile_and_fit(identifier, config, dataset, y_train, seed, callbacks):
    keras.utils.set_random_seed(seed)
    inner = models.build_model(config.model, dataset)
    reproducible.initialize(inner, seed)
    model = inner
    if identifier != ERM:
        model = SAMModel(inner, variant=make_variant(identifier, config))
    model.compile(
        optimizer=make_optimizer(config, math.ceil(len(y_train) / config.batch_size)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        steps_per_execution=config.steps_per_execution,
    )
    start = time.perf_counter()
    history = model.fit(
        reproducible.EpochBatches(dataset.x_train, y_train, config.batch_size, seed),
        epochs=config.epochs,
        validation_data=(dataset.x_test, dataset.y_test),
        validation_freq=validation_every(config.epochs),
        shuffle=False,  # EpochBatches shuffles; Keras would reorder its batches.
        verbose=0,
        callbacks=callbacks,
    )
    wall = time.perf_counter() - start
    final = model.evaluate(
        dataset.x_test, dataset.y_test, batch_size=1024, verbose=0, return_dict=True
    )
    return inner, history.history, wall, final


def make_optimizer(config, steps_per_epoch):
    """The base optimizer: SGD with momentum 0.9, or Adam.

    With `schedule="cosine"` the learning rate decays from
    `config.learning_rate` to 0 over the run's `epochs * steps_per_epoch`
    steps (cosine, no warm-up), so every run ends converged at its final
    epoch; `"constant"` keeps it fixed.
    """
    rate = config.learning_rate
    if config.schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(
            rate, decay_steps=config.epochs * steps_per_epoch
        )
    elif config.schedule != "constant":
        raise ValueError(
            f"unknown schedule {config.schedule!r}: choose cosine or constant"
        )
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(rate)
    raise ValueError(f"unknown optimizer {config.optimizer!r}: choose adam or sgd")


def validation_every(epochs):
    """Epochs between test evaluations for the curves (about 10 points per run)."""
    return max(1, epochs // 10)


def _test_curve(history, epochs, final_accuracy):
    every = validation_every(epochs)
    points = history.pop("val_accuracy", [])
    history.pop("val_loss", None)
    curve = {"epoch": [every * (i + 1) for i in range(len(points))], "accuracy": points}
    if not curve["epoch"] or curve["epoch"][-1] != epochs:
        curve["epoch"].append(epochs)
        curve["accuracy"].append(final_accuracy)
    return curve


def run_one(identifier, config, dataset, y_train, seed, callbacks=(), flatness_measures=True):
    """Trains one method on one seed; returns its record (JSON-ready).

    `flatness_measures=False` leaves out sharpness and the Hessian's top
    eigenvalue (None), e.g. for tuning trials.
    """
    timer = StepTimer()
    inner, history, wall, final = _compile_and_fit(
        identifier, config, dataset, y_train, seed, [timer, *callbacks]
    )
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    count = min(config.flatness_samples, len(y_train))
    x_batch, y_batch = dataset.x_train[:count], y_train[:count]
    history = {k: [float(v) for v in values] for k, values in history.items()}
    test_curve = _test_curve(history, config.epochs, float(final["accuracy"]))
    return {
        "method": identifier,
        "seed": seed,
        "test_accuracy": 100.0 * float(final["accuracy"]),
        "test_loss": float(final["loss"]),
        "wall_time_s": wall,
        "step_time_ms": 1000.0 * timer.seconds_per_step(wall),
        "sam_fraction": float(np.mean(history.get("sam_fraction", [0.0]))),
        "perturbation_norm": (
            history["perturbation_norm"][-1] if "perturbation_norm" in history else None
        ),
        "sharpness": flatness.sharpness(
            inner, loss_fn, x_batch, y_batch, rho=config.flatness_rho
        ) if flatness_measures else None,
        "hessian_top_eigenvalue": flatness.top_hessian_eigenvalue(
            inner, loss_fn, x_batch, y_batch,
            iterations=config.hessian_iterations, seed=seed,
        ) if flatness_measures else None,
        "history": history,
        "test_curve": test_curve,
    }


def _noisy_labels(config, dataset, seed):
    return symmetric_label_noise(
        dataset.y_train, config.label_noise, dataset.num_classes, seed=seed
    )


def run_benchmark(config, dataset, store=None, progress=True, tune=False,
                  tune_seeds=tuning.TUNING_SEEDS):
    """Trains every method on every seed; returns the results dict.

    With `tune`, each variant's hyperparameters are first chosen by
    `tuning.tune` (its grid, extended past any edge it chooses) on
    `tune_seeds`, each against its own validation split of the training
    data, and the final runs use the chosen point. Every finished run goes
    to `store` (a `store.RunStore`; a fresh in-memory one when None), and
    runs already in it are not trained again (`--resume`).

    The dict holds `config`, `dataset` (one line), `summary` (one row per
    method, ERM first), `runs` (one record per method and seed, with its
    per-epoch history), `tuning` (per method: the chosen point, the axes
    left at their extension bound and every trial's validation accuracies)
    and `total_time_s` (the training time of every run and tuning trial,
    summed: the same after `--resume`, which reads the finished ones back
    instead of training them).
    """
    store = store or RunStore(None, None)
    methods = method_ids(config)
    for identifier in methods[1:]:
        make_variant(identifier, config)  # fail on bad arguments before training
    trained = []
    trials = [(m, p) for m in methods[1:] for p in tuning.grid(m)] if tune else []
    total = (len(trials) * len(tune_seeds) + len(methods) * len(config.seeds)) * config.epochs
    chosen, tuned = {}, {}
    with overall_bar(total, progress) as bar:
        def train(key, label, method, run_config, data, y, seed, flatness_measures=True):
            def fit():
                callback = EpochProgress(label, config.epochs, bar)
                return run_one(method, run_config, data, y, seed, [callback],
                               flatness_measures=flatness_measures)
            record = store.run(key, fit)
            trained.append(record)
            return record

        # One validation split per tuning seed, shared by every grid point.
        splits = {
            seed: tuning.validation_split(dataset, _noisy_labels(config, dataset, seed), seed)
            for seed in (tune_seeds if tune else ())
        }

        def trial(method):
            def train_point(params, seed):
                if bar is not None and params not in tuning.grid(method):
                    bar.total += config.epochs  # a point past the grid's edge
                return train(
                    tuning.trial_key(method, params, seed),
                    f"tune {method_label(method)} {tuning.describe(params)} seed {seed}",
                    method, tuning.with_params(config, method, params), *splits[seed],
                    seed, flatness_measures=False)
            return train_point

        for method in methods[1:] if tune else ():
            chosen[method], results = tuning.tune(method, list(splits), trial(method))
            tuned[method] = {
                "chosen": chosen[method],
                "at_bound": tuning.at_bound(method, chosen[method]),
                "validation_accuracy": {
                    point: [r["test_accuracy"] for r in records]
                    for point, (_, records) in results.items()
                },
            }
        runs = []
        for seed in config.seeds:
            y_train = _noisy_labels(config, dataset, seed)
            for method in methods:
                runs.append(train(
                    f"final/{method}/{seed}", f"{method_label(method)} seed {seed}", method,
                    tuning.with_params(config, method, chosen.get(method, {})),
                    dataset, y_train, seed))
    resolved = dataclasses.asdict(config)
    resolved["variants"] = methods[1:]
    resolved["model"] = (
        models.DEFAULT_MODEL[dataset.kind] if config.model == "auto" else config.model
    )
    resolved["tune"] = bool(tune)
    resolved["tune_seeds"] = list(tune_seeds) if tune else []
    return {
        "config": resolved,
        "dataset": dataset.describe(),
        "num_classes": dataset.num_classes,
        "environment": _environment(),
        "summary": summary.summarize(runs, methods, chosen),
        "tuning": tuned,
        "runs": runs,
        "total_time_s": sum(r["wall_time_s"] for r in trained),
    }


def _environment():
    import importlib
    import os
    import platform

    backend = keras.backend.backend()
    return {
        "keras": keras.__version__,
        "backend": backend,
        backend: importlib.import_module(backend).__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }
