"""`--tune`'s grids come from the variant classes (`tuning_grid`)."""

import pytest

from keras_sam import variants
from keras_sam_bench import tuning


def test_each_variant_is_tuned_over_its_class_grid():
    for identifier, cls in variants.registered().items():
        axes = cls.tuning_grid
        points = tuning.grid(identifier)
        assert len(points) == len({tuning.describe(p) for p in points})
        expected = 1
        for values in axes.values():
            expected *= len(values)
        assert len(points) == expected, identifier
        for name, values in axes.items():
            assert sorted({p[name] for p in points}) == sorted(values), identifier
    assert tuning.grid("erm") == [{}]


@pytest.mark.parametrize("identifier,expected", [
    ("sam", {"rho": (0.05, 0.1, 0.2)}),
    ("gsam", {"rho": (0.05, 0.1, 0.2)}),
    ("asam", {"rho": (0.5, 1.0, 2.0)}),
    ("look_sam", {"alpha": (0.1, 0.7), "rho": (0.05, 0.1, 0.2)}),
    ("ae_look_sam", {"alpha": (0.1, 0.7), "rho": (0.05, 0.1, 0.2)}),
    ("gam", {"rho_prime": (0.03, 0.1, 0.2)}),
    ("msam", {"rho": (0.1, 0.3, 1.0)}),
])
def test_the_grids_are_the_papers(identifier, expected):
    # The values (and their sources, commented beside each `tuning_grid`)
    # that the committed tuned runs used.
    assert variants.registered()[identifier].tuning_grid == expected


def test_a_grid_is_tried_as_a_variant_argument():
    # Every grid names constructor arguments of its variant.
    import inspect

    for identifier, cls in variants.registered().items():
        parameters = inspect.signature(cls).parameters
        assert set(cls.tuning_grid) <= set(parameters), identifier


def _tune(method, accuracy):
    """`tuning.tune` with a validation accuracy `accuracy(params, seed)`;
    returns the choice, the points tried (in order) and the calls made."""
    calls = []

    def train(params, seed):
        calls.append((tuning.describe(params), seed))
        return {"test_accuracy": accuracy(params, seed)}

    chosen, trials = tuning.tune(method, (0, 1), train)
    return chosen, [p for p, _ in trials.values()], calls


def test_a_choice_at_the_grids_edge_extends_the_grid_until_it_is_inside():
    # Validation accuracy peaks at rho = 0.025, below SAM's grid (0.05-0.2).
    chosen, tried, calls = _tune("sam", lambda p, seed: -abs(p["rho"] - 0.025) + seed)
    assert chosen == {"rho": 0.025}
    assert [p["rho"] for p in tried] == [0.05, 0.1, 0.2, 0.025, 0.0125]
    # every point rests on both tuning seeds
    assert len(calls) == 2 * len(tried) and {s for _, s in calls} == {0, 1}


def test_an_extension_stops_at_the_stated_bound():
    # Always better with larger rho: two doublings past 0.2, no further.
    chosen, tried, _ = _tune("sam", lambda p, seed: p["rho"])
    assert chosen == {"rho": 0.8} and max(p["rho"] for p in tried) == 0.8
    assert tuning.bounds("sam", "rho") == (0.0125, 0.8)
    assert tuning.at_bound("sam", chosen) == ["rho"]


def test_an_interior_choice_tries_nothing_more():
    chosen, tried, _ = _tune("sam", lambda p, seed: -abs(p["rho"] - 0.1))
    assert chosen == {"rho": 0.1} and len(tried) == 3
    assert tuning.at_bound("sam", chosen) == []


def test_each_axis_extends_with_the_others_held_at_the_choice():
    # LookSAM: alpha best at its smallest (0.1), rho inside the grid.
    chosen, tried, _ = _tune(
        "look_sam", lambda p, seed: -abs(p["rho"] - 0.1) - abs(p["alpha"] - 0.05))
    assert chosen == {"rho": 0.1, "alpha": 0.05}
    extra = [p for p in tried if p not in tuning.grid("look_sam")]
    assert extra == [{"alpha": 0.05, "rho": 0.1}, {"alpha": 0.025, "rho": 0.1}]
