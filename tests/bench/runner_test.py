import numpy as np
import pytest

import keras_sam
from keras_sam_bench import runner
from keras_sam_bench.data import load_mnist1d


@pytest.fixture(scope="module")
def tiny():
    return load_mnist1d(num_samples=300, seed=0)


def _config(**kwargs):
    defaults = dict(
        variants=["sam"], seeds=[0, 1], epochs=2, batch_size=64, label_noise=0.2,
        steps_per_execution=1, flatness_samples=100, hessian_iterations=3,
    )
    defaults.update(kwargs)
    return runner.BenchmarkConfig(**defaults)


@pytest.mark.benchmark_run
def test_benchmark_summarizes_erm_and_each_variant_over_seeds(tiny):
    results = runner.run_benchmark(_config(), tiny, progress=False)
    summary = results["summary"]
    assert [row["method"] for row in summary] == ["erm", "sam"]
    assert [row["label"] for row in summary] == ["ERM", "SAM"]
    erm, sam = summary
    assert erm["delta_vs_erm"] == 0.0 and erm["step_time_ratio"] == 1.0
    assert sam["delta_vs_erm"] == pytest.approx(sam["accuracy_mean"] - erm["accuracy_mean"])
    assert erm["sam_fraction"] == 0.0 and sam["sam_fraction"] == 1.0
    assert sam["perturbation_norm"] == pytest.approx(0.05, rel=1e-3)
    assert sam["step_time_ratio"] > 1.0  # two passes per step
    runs = results["runs"]
    assert sorted((r["method"], r["seed"]) for r in runs) == [
        ("erm", 0), ("erm", 1), ("sam", 0), ("sam", 1)
    ]
    accuracies = [r["test_accuracy"] for r in runs if r["method"] == "sam"]
    assert sam["accuracy_mean"] == pytest.approx(np.mean(accuracies))
    assert sam["accuracy_std"] == pytest.approx(np.std(accuracies, ddof=1))
    for run in runs:
        assert len(run["history"]["loss"]) == 2
        assert run["test_curve"]["epoch"][-1] == 2
        assert run["test_curve"]["accuracy"][-1] * 100 == pytest.approx(run["test_accuracy"])
        assert np.isfinite(run["sharpness"]) and np.isfinite(run["hessian_top_eigenvalue"])
    assert results["config"]["model"] == "cnn" and results["config"]["variants"] == ["sam"]
    differences = [
        next(r for r in runs if (r["method"], r["seed"]) == ("sam", seed))["test_accuracy"]
        - next(r for r in runs if (r["method"], r["seed"]) == ("erm", seed))["test_accuracy"]
        for seed in (0, 1)
    ]
    assert sam["vs_erm"]["differences"] == pytest.approx(differences)
    assert sam["vs_sam"]["differences"] == [0.0, 0.0] and erm["vs_erm"]["mean"] == 0.0


@pytest.mark.slow
@pytest.mark.benchmark_run
def test_tune_chooses_on_the_validation_split_and_trains_the_choice(tiny, tmp_path):
    """Each grid point is trained on the training data minus the split; the
    final runs use the best point; an interrupted run resumes from the file."""
    from keras_sam_bench import store, tuning

    config = _config(seeds=[0], epochs=1)
    folder = str(tmp_path / "run")
    results = runner.run_benchmark(config, tiny, store.RunStore(folder, {"a": 1}),
                                   progress=False, tune=True)
    tuned = results["tuning"]["sam"]
    # every point on both tuning seeds (each its own validation split); the
    # grid, and past its edge when the choice sits there
    assert all(len(acc) == 2 for acc in tuned["validation_accuracy"].values())
    accuracies = {point: sum(acc) / 2 for point, acc in tuned["validation_accuracy"].items()}
    assert set(accuracies) >= {tuning.describe(p) for p in tuning.grid("sam")}
    best = max(accuracies.values())
    assert accuracies[tuning.describe(tuned["chosen"])] == best
    rhos = sorted(float(point.split("=")[1]) for point in accuracies)
    chosen = tuned["chosen"]["rho"]
    assert rhos[0] < chosen < rhos[-1] or tuned["at_bound"] == ["rho"]
    assert results["summary"][1]["params"] == tuning.describe(tuned["chosen"])
    final = [r for r in results["runs"] if r["method"] == "sam"][0]
    assert final["perturbation_norm"] == pytest.approx(tuned["chosen"]["rho"], rel=1e-3)
    # Resuming trains nothing: every record comes back from runs.jsonl.
    resumed = store.RunStore(folder, {"a": 1}, resume=True)
    again = runner.run_benchmark(config, tiny, resumed, progress=False, tune=True)
    assert again["runs"] == results["runs"] and again["tuning"] == results["tuning"]
    assert len(resumed.records) == 2 * len(accuracies) + 2


@pytest.mark.benchmark_run
def test_same_seed_same_run(tiny):
    """Same data, labels, initial weights and batch order for a seed."""
    config = _config(epochs=1)
    y = tiny.y_train
    first = runner.run_one("erm", config, tiny, y, seed=3)
    second = runner.run_one("erm", config, tiny, y, seed=3)
    assert first["history"]["loss"] == second["history"]["loss"]
    assert first["test_accuracy"] == second["test_accuracy"]


def test_default_methods_are_erm_then_every_registered_variant():
    config = runner.BenchmarkConfig()
    assert runner.method_ids(config) == ["erm", *keras_sam.variants.registered()]
    assert runner.method_ids(_config(variants=["erm", "asam"])) == ["erm", "asam"]


def test_make_variant_applies_rho_and_variant_args():
    config = _config(rho=0.2, variant_args={"asam": {"eta": 0.1}, "sam": {"rho": 0.01}})
    asam = runner.make_variant("asam", config)
    assert float(asam.rho.numpy()) == pytest.approx(0.2) and asam.get_config()["eta"] == 0.1
    assert float(runner.make_variant("sam", config).rho.numpy()) == pytest.approx(0.01)


def test_make_variant_rejects_unknown_variants_and_arguments():
    with pytest.raises(ValueError, match="unknown variant 'nope'"):
        runner.make_variant("nope", _config())
    with pytest.raises(ValueError, match="variant 'sam'.*(Unrecognized|unexpected) keyword"):
        runner.make_variant("sam", _config(variant_args={"sam": {"radius": 1}}))
    with pytest.raises(ValueError, match="variant 'sam'.*rho"):
        runner.make_variant("sam", _config(rho=-1.0))


@pytest.mark.parametrize("name, expected", [("adam", "Adam"), ("sgd", "SGD")])
def test_make_optimizer_builds_the_chosen_base_optimizer(name, expected):
    config = _config(optimizer=name, learning_rate=0.05, schedule="constant")
    optimizer = runner.make_optimizer(config, steps_per_epoch=10)
    assert type(optimizer).__name__ == expected
    assert float(optimizer.learning_rate.numpy()) == pytest.approx(0.05)
    if name == "sgd":
        assert optimizer.momentum == 0.9


def test_the_cosine_schedule_decays_to_zero_at_the_last_step():
    config = _config(optimizer="sgd", learning_rate=0.05, epochs=4, schedule="cosine")
    schedule = runner.make_optimizer(config, steps_per_epoch=10)._learning_rate
    rates = [float(schedule(step)) for step in (0, 20, 40)]
    # lr * (1 + cos(pi * step / 40)) / 2
    assert rates == pytest.approx([0.05, 0.025, 0.0], abs=1e-7)


def test_make_optimizer_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown optimizer 'lamb'"):
        runner.make_optimizer(_config(optimizer="lamb"), 10)
    with pytest.raises(ValueError, match="unknown schedule 'step'"):
        runner.make_optimizer(_config(schedule="step"), 10)
