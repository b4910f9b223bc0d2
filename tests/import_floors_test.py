"""The modules of keras_sam, its benchmark harness and its command line import
only along their floors, and form no cycle.

The floors (docs/design.md), lowest first; a module may import modules of
its own floor or of a lower one, never of a higher one:

0. `basics` (shared math and argument checks), `executor` (what the
   algorithms need from the step, installed by the package), `schedules`,
   `keras_private` (the private Keras names, in one place);
1. the algorithms: `variants`, `policies`, `callbacks`, `distribution`,
   `multi_worker`;
2. the executor's primitives and its backend-neutral step: `backend`;
3. what trains a model with them: `custom_step`, `stateful_step`,
   `sam_step`, `sam_model`, `variant_binding`, `pipeline`;
4. the package and its tools: `keras_sam` itself, `flatness` (with the
   `autodiff` it measures with), `__main__`;
5. the benchmark harness, a package of its own: `keras_sam_bench` (its
   datasets, models, runner, reports, and the command's training entry);
6. the command line without a backend: `keras_sam_cli`.

Every `import` statement is read with `ast`, those inside functions too (a
deferred import is a dependency all the same).
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FLOORS = [
    ["keras_sam.basics", "keras_sam.executor", "keras_sam.schedules",
     "keras_sam.keras_private"],
    ["keras_sam.variants", "keras_sam.policies", "keras_sam.callbacks",
     "keras_sam.distribution", "keras_sam.multi_worker"],
    ["keras_sam.backend"],
    ["keras_sam.custom_step", "keras_sam.stateful_step", "keras_sam.sam_step",
     "keras_sam.sam_model", "keras_sam.variant_binding", "keras_sam.pipeline"],
    ["keras_sam", "keras_sam.flatness", "keras_sam.autodiff", "keras_sam.__main__"],
    ["keras_sam_bench"],
    ["keras_sam_cli"],
]


def floor(module):
    """The floor of a module: that of its longest listed prefix."""
    best = None
    for level, names in enumerate(FLOORS):
        for name in names:
            if module == name or module.startswith(name + "."):
                if best is None or len(name) > len(best[1]):
                    best = (level, name)
    if best is None:
        raise AssertionError(f"{module} is on no floor: add it to FLOORS")
    return best[0]


def modules():
    found = {}
    for package in ("keras_sam", "keras_sam_bench", "keras_sam_cli"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports(name, path, known):
    """The modules of these packages `name` imports (resolved to known modules)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    result = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from package import module` depends on the module; `from
            # module import name` on the module.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                result.add(target)
    return result


def graph():
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_every_import_goes_down_or_level():
    upward = sorted(
        f"{name} (floor {floor(name)}) imports {target} (floor {floor(target)})"
        for name, targets in graph().items() for target in targets
        if floor(target) > floor(name)
    )
    assert not upward, "imports up the floors:\n" + "\n".join(upward)


def test_no_import_cycle():
    edges = graph()
    # A package's `__init__` importing its own submodules is how Python
    # packages work; a cycle through anything else is not.
    def follows(a, b):
        return not b.startswith(a + ".")

    state, cycles = {}, []

    def visit(node, path):
        state[node] = "open"
        for target in sorted(edges[node]):
            if not follows(node, target):
                continue
            if state.get(target) == "open":
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("wrong", [("keras_sam.variants.variant", "keras_sam.backend"),
                                   ("keras_sam.flatness", "keras_sam_bench.runner"),
                                   ("keras_sam_bench.command", "keras_sam_cli.arguments")])
def test_an_upward_import_is_caught(wrong):
    source, target = wrong
    assert floor(target) > floor(source)


def test_modules_the_docs_name_are_reachable_after_import_keras_sam():
    # `keras_sam.distribution.enable_multi_worker_fit()` after `import
    # keras_sam`, as the docs write it: the module must be imported by the
    # package itself, not only by whatever else a process imported first.
    import re
    import subprocess
    import sys

    texts = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    named = sorted({m for path in texts
                    for m in re.findall(r"\bkeras_sam\.([a-z_]+)\.", path.read_text())})
    assert "distribution" in named
    script = ("import keras_sam, sys; missing = [m for m in sys.argv[1:] "
              "if not hasattr(keras_sam, m)]; print(missing); sys.exit(bool(missing))")
    result = subprocess.run([sys.executable, "-c", script, *named],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr[-500:]
