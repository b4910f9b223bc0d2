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
