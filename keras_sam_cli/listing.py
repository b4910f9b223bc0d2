"""`keras-sam variants` and `keras-sam datasets`: listings without a backend.

The variants are read from their source files, not from
`keras_sam.variants.registered()`, which would import Keras: each class in
keras_sam/variants/*.py whose body sets `identifier = "..."` is a variant
(the rule `Variant.__init_subclass__` registers by), and its defaults are
those of the first `__init__` along its bases in those files, read with
`ast`. The files are found through the installed `keras_sam` package without
running it. tests/launcher_test.py fails when what is read here and the
registry differ (ids, classes or defaults).
"""

import ast
import functools
import importlib.util
import inspect
import pathlib

from keras_sam_cli import arguments


class _Source(str):
    """A default that is not a literal: shown as its source text."""

    def __repr__(self):
        return str(self)


def _literal(node):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return _Source(ast.unparse(node))


def _defaults(function):
    """`{name: default}` of an `__init__`'s parameters after `self`, in order.

    A parameter without a default maps to `inspect.Parameter.empty`; `*args`
    and `**kwargs` are left out (as the registry check leaves them out).
    """
    spec = function.args
    positional = (spec.posonlyargs + spec.args)[1:]
    padded = [None] * (len(positional) - len(spec.defaults)) + list(spec.defaults)
    pairs = list(zip(positional, padded)) + list(zip(spec.kwonlyargs, spec.kw_defaults))
    return {arg.arg: inspect.Parameter.empty if default is None else _literal(default)
            for arg, default in pairs}


def _base_name(node):
    """`SAM` for `SAM`, `Layer` for `keras.layers.Layer`."""
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)


def variants_folder():
    """keras_sam/variants of the installed package, found without importing it.

    (keras_sam comes in the same wheel as this package.)
    """
    spec = importlib.util.find_spec("keras_sam")
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / "variants"


def _classes(folder):
    """`{class name: (base names, identifier or None, __init__ defaults or None)}`."""
    classes = {}
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            identifier = defaults = None
            for item in node.body:
                targets = (item.targets if isinstance(item, ast.Assign) else
                           [item.target] if isinstance(item, ast.AnnAssign) and item.value
                           else [])
                if any(getattr(t, "id", None) == "identifier" for t in targets):
                    identifier = _literal(item.value)
                elif isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    defaults = _defaults(item)
            classes[node.name] = ([_base_name(b) for b in node.bases], identifier, defaults)
    return classes


def _mro(name, classes):
    """The method resolution order (C3) of `name` among `classes`.

    (Python refuses to create a class without one, so one exists.)
    """
    bases = [b for b in classes[name][0] if b in classes]
    sequences = [_mro(base, classes) for base in bases] + [bases]
    order = [name]
    while any(sequences):
        sequences = [s for s in sequences if s]
        head = next(s[0] for s in sequences
                    if not any(s[0] in other[1:] for other in sequences))
        order.append(head)
        sequences = [s[1:] if s[0] == head else s for s in sequences]
    return order


@functools.lru_cache(maxsize=None)
def declared_variants(folder=None):
    """`((id, class name, {argument: default}), ...)` for each variant, by id.

    `folder` holds the variants' source files (default: `variants_folder()`).
    """
    classes = _classes(pathlib.Path(folder) if folder else variants_folder())
    rows = []
    for name, (_, identifier, _) in classes.items():
        if not identifier:
            continue
        inits = [classes[c][2] for c in _mro(name, classes) if classes[c][2] is not None]
        rows.append((identifier, name, inits[0] if inits else {}))
    return tuple(sorted(rows, key=lambda row: row[0]))


def _table(rows):
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1]
        for row in rows
    )


def _argument(name, default):
    return name if default is inspect.Parameter.empty else f"{name}={default!r}"


def variants():
    """One line per variant: id, class and `Class(name=default, ...)`."""
    rows = [("id", "class", "defaults")] + [
        (identifier, class_name,
         ", ".join(_argument(name, value) for name, value in defaults.items()))
        for identifier, class_name, defaults in declared_variants()
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
