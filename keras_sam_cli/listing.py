"""`keras-sam variants` and `keras-sam datasets`: listings without a backend.

The variants cannot be read from `keras_sam.variants.registered()` without
importing Keras, so `VARIANTS` is a static copy of it; tests/launcher_test.py
fails when the copy and the registry differ (ids, classes or defaults).
"""

from keras_sam_cli import arguments

# (id, class name, constructor defaults) for each registered variant, by id.
VARIANTS = (
    ("ae_look_sam", "AELookSAM", {"rho": 0.05, "delta": 0.9, "lambda_1": 0.0,
                                  "lambda_2": 2.0, "alpha": 0.7, "epsilon": 1e-12,
                                  "granularity": "global"}),
    ("ae_sam", "AESAM", {"rho": 0.05, "delta": 0.9, "lambda_1": -1.0, "lambda_2": 1.0,
                         "epsilon": 1e-12}),
    ("asam", "ASAM", {"rho": 0.5, "eta": 0.01, "epsilon": 1e-12, "scale_biases": True,
                      "variable_paths": None}),
    ("esam", "ESAM", {"rho": 0.05, "beta": 0.6, "gamma": 0.5, "epsilon": 1e-12,
                      "seed": None}),
    ("friendly_sam", "FriendlySAM", {"rho": 0.05, "sigma": 1.0, "decay": 0.9,
                                     "epsilon": 1e-12}),
    ("ga_sam", "GASAM", {"rho": 0.05, "beta": 0.99, "min_strength": 0.001,
                         "num_ascent_steps": 1, "epsilon": 1e-12}),
    ("gam", "GAM", {"rho": 0.2, "rho_prime": 0.03, "alpha": 0.1, "beta": 0.1,
                    "gamma": 0.05, "epsilon": 1e-12, "h_minus": "code"}),
    ("gsam", "GSAM", {"rho": 0.05, "alpha": 0.4, "epsilon": 1e-12}),
    ("look_sam", "LookSAM", {"rho": 0.05, "k": 5, "alpha": 0.7, "epsilon": 1e-12,
                             "granularity": "global"}),
    ("msam", "MSAM", {"rho": 0.3, "momentum": 0.9, "epsilon": 1e-12}),
    ("sam", "SAM", {"rho": 0.05, "epsilon": 1e-12, "centralize": False}),
    ("wsam", "WSAM", {"rho": 0.05, "gamma": 0.9, "decoupled": True, "epsilon": 1e-12}),
)


def _table(rows):
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1]
        for row in rows
    )


def variants():
    """One line per variant: id, class and `Class(name=default, ...)`."""
    rows = [("id", "class", "defaults")] + [
        (identifier, class_name,
         ", ".join(f"{name}={value!r}" for name, value in defaults.items()))
        for identifier, class_name, defaults in VARIANTS
    ]
    return (_table(rows) + "\n\nChoose with `keras-sam benchmark --variants ID,...`, "
            "change a default with `--variant-args 'ID:NAME=VALUE'`; in Python, "
            "keras_sam.SAMModel(model, variant='ID') or keras_sam.variants.CLASS(...).")


def datasets():
    """One line per dataset `--dataset` takes, then the other names it accepts."""
    rows = [("name", "model (auto)", "install", "data")] + [
        (name, model, f"pip install 'keras-sam[{extra}]'", about)
        for name, about, model, extra in arguments.DATASETS
    ]
    return (_table(rows) + f"\n\nAlso {arguments.OTHER_DATASETS}; choose with "
            "`keras-sam benchmark --dataset NAME`.")
