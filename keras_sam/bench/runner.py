"""Runs the benchmark: ERM and each SAM variant on the same data and seeds.

For every seed, the labels (with the seed's label noise), the initial
weights and the batch order are the same for every method, and on every
Keras backend (drawn with NumPy, see `reproducible.py`); ERM is a plain `keras.Model`
`fit` with the base optimizer, a variant is the same model wrapped in
`keras_sam.SAMModel`.
"""

import dataclasses
import time

import keras
import numpy as np

from keras_sam import variants as variants_lib
from keras_sam.bench import flatness, models, reproducible
from keras_sam.bench.progress import EpochProgress, overall_bar
from keras_sam.bench.timing import StepTimer
from keras_sam.data import symmetric_label_noise
from keras_sam.sam_model import SAMModel

ERM = "erm"


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
    optimizer: str = "adam"  # or "sgd" (momentum 0.9)
    learning_rate: float = 1e-3
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


def make_variant(identifier, config):
    """A fresh variant instance with `--rho` and `--variant-args` applied."""
    table = variants_lib.registered()
    if identifier not in table:
        raise ValueError(
            f"unknown variant {identifier!r}: choose from {', '.join(sorted(table))}"
        )
    kwargs = dict(config.variant_args.get(identifier, {}))
    if config.rho is not None:
        kwargs.setdefault("rho", config.rho)
    try:
        return table[identifier](**kwargs)
    except (TypeError, ValueError) as error:
        raise ValueError(f"variant {identifier!r}: {error}") from None


def method_label(identifier):
    """Display name: "ERM" or the variant's class name ("SAM", "LookSAM", ...)."""
    if identifier == ERM:
        return "ERM"
    return variants_lib.registered()[identifier].__name__


def _compile_and_fit(identifier, config, dataset, y_train, seed, callbacks):
    keras.utils.set_random_seed(seed)
    inner = models.build_model(config.model, dataset)
    reproducible.initialize(inner, seed)
    model = inner
    if identifier != ERM:
        model = SAMModel(inner, variant=make_variant(identifier, config))
    model.compile(
        optimizer=make_optimizer(config),
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


def make_optimizer(config):
    """The base optimizer: Adam, or SGD with momentum 0.9."""
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(config.learning_rate, momentum=0.9)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(config.learning_rate)
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


def run_one(identifier, config, dataset, y_train, seed, callbacks=()):
    """Trains one method on one seed; returns its record (JSON-ready)."""
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
        ),
        "hessian_top_eigenvalue": flatness.top_hessian_eigenvalue(
            inner, loss_fn, x_batch, y_batch,
            iterations=config.hessian_iterations, seed=seed,
        ),
        "history": history,
        "test_curve": test_curve,
    }


def summarize(runs, methods):
    """One summary row per method: means over seeds and ratios to ERM."""
    rows = []
    for identifier in methods:
        mine = [r for r in runs if r["method"] == identifier]
        accuracies = np.array([r["test_accuracy"] for r in mine])
        mean = lambda key: float(np.mean([r[key] for r in mine]))  # noqa: E731
        norms = [r["perturbation_norm"] for r in mine if r["perturbation_norm"] is not None]
        rows.append({
            "method": identifier,
            "label": method_label(identifier),
            "seeds": len(mine),
            "accuracy_mean": float(accuracies.mean()),
            "accuracy_std": float(accuracies.std(ddof=1)) if len(mine) > 1 else 0.0,
            "wall_time_s": mean("wall_time_s"),
            "step_time_ms": mean("step_time_ms"),
            "sam_fraction": mean("sam_fraction"),
            "perturbation_norm": float(np.mean(norms)) if norms else None,
            "sharpness": mean("sharpness"),
            "hessian_top_eigenvalue": mean("hessian_top_eigenvalue"),
        })
    base = rows[0]
    for row in rows:
        row["delta_vs_erm"] = row["accuracy_mean"] - base["accuracy_mean"]
        row["step_time_ratio"] = row["step_time_ms"] / base["step_time_ms"]
    return rows


def run_benchmark(config, dataset, progress=True):
    """Trains every method on every seed; returns the results dict.

    The dict holds `config`, `dataset` (one line), `summary` (one row per
    method, ERM first), `runs` (one record per method and seed, with its
    per-epoch history) and `total_time_s`.
    """
    methods = method_ids(config)
    for identifier in methods[1:]:
        make_variant(identifier, config)  # fail on bad arguments before training
    start = time.perf_counter()
    runs = []
    with overall_bar(len(methods) * len(config.seeds) * config.epochs, progress) as bar:
        for seed in config.seeds:
            y_train = symmetric_label_noise(
                dataset.y_train, config.label_noise, dataset.num_classes, seed=seed
            )
            for identifier in methods:
                callback = EpochProgress(
                    f"{method_label(identifier)} seed {seed}", config.epochs, bar
                )
                runs.append(run_one(identifier, config, dataset, y_train, seed, [callback]))
    resolved = dataclasses.asdict(config)
    resolved["variants"] = methods[1:]
    resolved["model"] = (
        models.DEFAULT_MODEL[dataset.kind] if config.model == "auto" else config.model
    )
    return {
        "config": resolved,
        "dataset": dataset.describe(),
        "environment": _environment(),
        "summary": summarize(runs, methods),
        "runs": runs,
        "total_time_s": time.perf_counter() - start,
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
