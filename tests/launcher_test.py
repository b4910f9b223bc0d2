"""The `keras-sam` entry point (`keras_sam_cli`): no backend for --help,
--version and the listings; the listings match the registry; quiet runs."""

import inspect
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

import keras_sam
import keras_sam_cli
from keras_sam_cli import arguments, listing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY = ("keras", "keras_sam", "tensorflow", "jax", "torch")
# TensorFlow's C++ runtime writes these when it loads, whatever TF_CPP_MIN_LOG_LEVEL says.
NATIVE_LOG = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages before absl|To enable the following)",
                        re.MULTILINE)

# Runs main(argv) for each argv in a fresh interpreter and reports the exit
# codes, what was printed and which heavy modules got imported.
_PROBE = """
import contextlib, importlib.util, io, json, os, sys, tempfile
import keras_sam_cli
import importlib.machinery
present = {"no-jax": ("tensorflow", "torch"), "jax-only": ("jax",)}.get(sys.argv[1])
if present is not None:  # as if exactly these backends were installed
    real = importlib.util.find_spec
    def find_spec(name, *a):
        if name in ("tensorflow", "jax", "torch"):
            return importlib.machinery.ModuleSpec(name, None) if name in present else None
        return real(name, *a)
    importlib.util.find_spec = find_spec
if sys.argv[1] == "jax-only":  # nor KERAS_BACKEND nor keras.json set
    del os.environ["KERAS_BACKEND"]
    os.environ["KERAS_HOME"] = tempfile.mkdtemp()
runs = []
for argv in json.loads(sys.argv[2]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = keras_sam_cli.main(argv)
        except SystemExit as exit:
            code = exit.code
    runs.append({"code": code, "out": out.getvalue(), "err": err.getvalue()})
heavy = sorted({name.split(".")[0] for name in sys.modules} & set(json.loads(sys.argv[3])))
print(json.dumps({"runs": runs, "heavy": heavy}))
"""


def _probe(argvs, mode="plain"):
    process = subprocess.run(
        [sys.executable, "-c", _PROBE, mode, json.dumps(argvs), json.dumps(HEAVY)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, "KERAS_BACKEND": "tensorflow"},
    )
    assert process.returncode == 0, process.stderr
    assert not NATIVE_LOG.search(process.stderr), process.stderr
    return json.loads(process.stdout)


def test_help_version_and_listings_import_no_backend():
    argvs = [["--help"], ["--version"], ["variants"], ["datasets"], ["benchmark", "--help"]]
    result = _probe(argvs)
    assert result["heavy"] == []
    for argv, run in zip(argvs, result["runs"]):
        assert run["code"] == 0 and run["err"] == "", (argv, run)
        assert not NATIVE_LOG.search(run["out"]), (argv, run["out"])
    top_help, version, variants, datasets, benchmark_help = (r["out"] for r in result["runs"])
    assert all(command in top_help for command in ("benchmark", "variants", "datasets"))
    assert version.strip() == f"keras-sam {keras_sam.__version__}"
    for identifier, class_name, _ in listing.declared_variants():
        assert re.search(rf"^{identifier}\s+{class_name}\s", variants, re.MULTILINE)
    assert "ga_sam  " in variants and "num_ascent_steps=1" in variants
    for name, *_ in arguments.DATASETS:
        assert re.search(rf"^{name}\s", datasets, re.MULTILINE)
    assert "--verbose" in benchmark_help and "keras-sam datasets" in benchmark_help
    option_help = " ".join(benchmark_help.split("\n  --dataset DATASET", 1)[1].split()[:30])
    assert all(name in option_help for name, *_ in arguments.DATASETS), option_help


def test_a_missing_backend_is_one_line_exit_2_and_imports_no_backend():
    result = _probe([["benchmark", "--backend", "jax"]], mode="no-jax")
    (run,) = result["runs"]
    assert result["heavy"] == []
    assert run["code"] == 2 and run["out"] == ""
    assert run["err"].splitlines() == [
        "keras-sam: error: a benchmark on the jax backend needs what is not "
        "installed here: pip install 'keras-sam[jax]'; or train on the installed "
        "tensorflow or torch backend: --backend tensorflow"]


def test_a_jax_only_install_is_pointed_at_jax_and_imports_no_backend():
    # Without --backend, KERAS_BACKEND or keras.json, Keras (and so the
    # benchmark) would pick TensorFlow: the one line names the fix.
    result = _probe([["benchmark"]], mode="jax-only")
    (run,) = result["runs"]
    assert result["heavy"] == []
    assert run["code"] == 2 and run["out"] == ""
    assert run["err"].splitlines() == [
        "keras-sam: error: a benchmark on the tensorflow backend (Keras's default, as "
        "KERAS_BACKEND is not set) needs what is not installed here: pip install "
        "'keras-sam[tensorflow]'; or train on the installed jax backend: --backend jax"]


def test_usage_errors_import_no_backend():
    result = _probe([["benchmark", "--epochs", "0"], ["train"],
                     ["benchmark", "--output", os.path.join(ROOT, "pyproject.toml")]])
    assert result["heavy"] == []
    assert [run["code"] for run in result["runs"]] == [2, 2, 2]
    assert "positive integer" in result["runs"][0]["err"]
    assert "invalid choice: 'train'" in result["runs"][1]["err"]
    assert "pyproject.toml' is a file, not a folder" in result["runs"][2]["err"]


def test_version_is_the_package_version():
    assert keras_sam_cli.version() == keras_sam.__version__


def test_variants_table_matches_the_registry():
    table = {identifier: (class_name, defaults)
             for identifier, class_name, defaults in listing.declared_variants()}
    registry = {}
    for identifier, cls in keras_sam.variants.registered().items():
        parameters = inspect.signature(cls).parameters.values()
        registry[identifier] = (cls.__name__, {
            p.name: p.default for p in parameters
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)})
    assert table == registry, (
        "keras_sam_cli/listing.py (what `keras-sam variants` reads from the variants' "
        "source files without importing Keras) differs from "
        "keras_sam.variants.registered(): a variant its rule does not read?\n"
        f"only in the table: {sorted(set(table) - set(registry))}\n"
        f"only registered: {sorted(set(registry) - set(table))}\n"
        f"differing rows: { {k: (table[k], registry[k]) for k in set(table) & set(registry) if table[k] != registry[k]} }")
    assert [row[0] for row in listing.declared_variants()] == sorted(table)


def test_the_listing_reads_ids_defaults_and_inherited_defaults_from_source(tmp_path):
    (tmp_path / "base.py").write_text(
        "class Variant:\n"
        "    identifier = None\n"
        "    def __init__(self, rho=0.05, epsilon=1e-12, **kwargs):\n"
        "        pass\n")
    (tmp_path / "mine.py").write_text(
        "import keras\n"
        "from base import Variant\n"
        "class Mixin:\n"
        "    pass\n"
        "class Plain(Mixin, Variant):\n"
        "    identifier = 'plain'\n"
        "class Own(Plain):\n"
        "    identifier = 'own'\n"
        "    def __init__(self, k, rho=-0.1, *, mode='a', seed=None, **kwargs):\n"
        "        pass\n"
        "class Unregistered(Own):\n"
        "    pass\n"
        "@keras.saving.register_keras_serializable()\n"
        "class Inherits(Unregistered, keras.layers.Layer):\n"
        "    identifier = 'inherits'\n")
    rows = listing.declared_variants(tmp_path)
    own = {"k": inspect.Parameter.empty, "rho": -0.1, "mode": "a", "seed": None}
    assert rows == (("inherits", "Inherits", own), ("own", "Own", own),
                    ("plain", "Plain", {"rho": 0.05, "epsilon": 1e-12}))


def test_the_listing_finds_the_installed_package_without_running_it():
    import importlib.util

    folder = listing.variants_folder()
    assert folder == pathlib.Path(importlib.util.find_spec("keras_sam").origin).parent / "variants"
    assert (folder / "sam.py").is_file()


def test_datasets_listing_and_dataset_option_share_one_table():
    parsed = keras_sam_cli.build_parser().parse_args(["benchmark"])
    assert parsed.dataset == arguments.DATASETS[0][0] == "mnist1d"
    text = listing.datasets()
    for name, about, model, extra in arguments.DATASETS:
        assert re.search(rf"^{name}\s+{model}\s+pip install 'keras-sam\[{extra}\]'\s+{re.escape(about)}$",
                         text, re.MULTILINE)


def _bad_input_run(*flags):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-m", "keras_sam_cli", "benchmark", "--variants", "nope", *flags],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**env, "KERAS_BACKEND": "tensorflow"})


def test_bad_input_from_a_real_process_is_one_line_without_native_logs():
    process = _bad_input_run()
    assert process.returncode == 2
    lines = process.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in process.stderr, process.stderr
    assert lines[0].startswith("keras-sam: error: unknown variant 'nope': choose from ")


@pytest.mark.slow
def test_verbose_shows_the_native_lines():
    process = _bad_input_run("--verbose")
    assert process.returncode == 2 and "Traceback" not in process.stderr
    assert NATIVE_LOG.search(process.stderr), process.stderr
    assert process.stderr.count("keras-sam: error: unknown variant 'nope'") == 1


@pytest.mark.slow
@pytest.mark.benchmark_run
def test_a_run_prints_only_its_own_output(tmp_path):
    process = subprocess.run(
        [sys.executable, "-m", "keras_sam_cli", "benchmark", "--epochs", "1", "--seeds", "1",
         "--num-samples", "600", "--variants", "sam", "--hessian-iterations", "1",
         "--flatness-samples", "32", "--output", str(tmp_path / "run"), "--quiet"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
        env={**os.environ, "KERAS_BACKEND": "tensorflow"},
    )
    assert process.returncode == 0, process.stderr
    assert process.stderr == ""
    assert process.stdout.startswith("keras-sam benchmark: mnist1d")
    assert "| SAM |" in process.stdout
