"""Which backend `keras-sam benchmark` trains on without `--backend`, and the
one line when it is not installed (found without importing any backend).

The default is Keras's own rule (KERAS_BACKEND, else keras.json, else
TensorFlow); where its backend is missing, the error names the installed
ones and the `--backend` that uses one (tests/launcher_test.py runs the
JAX-only case in a fresh process and checks that no backend is imported).
"""

import importlib.machinery
import importlib.util
import json

import pytest

import keras_sam_cli
from keras_sam_cli import backends


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """No KERAS_BACKEND, and a KERAS_HOME without keras.json."""
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    return tmp_path


def _installed_only(monkeypatch, *names):
    """As if exactly the backends `names` were installed, whatever is."""
    real = importlib.util.find_spec

    def find_spec(name, *args):
        if name in ("tensorflow", "jax", "torch"):
            return importlib.machinery.ModuleSpec(name, None) if name in names else None
        return real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def _error_line(capsys, argv):
    code = keras_sam_cli.main(argv)
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "", captured.err
    (line,) = captured.err.splitlines()
    return line


def test_the_default_is_keras_own_rule(keras_home, monkeypatch):
    assert backends.default_backend() == ("tensorflow", None)
    (keras_home / "keras.json").write_text(json.dumps({"backend": "jax"}))
    assert backends.default_backend() == ("jax", str(keras_home / "keras.json"))
    parsed = keras_sam_cli.build_parser().parse_args(["benchmark"])
    assert parsed.backend == "jax"
    monkeypatch.setenv("KERAS_BACKEND", "torch")  # the variable wins, as in Keras
    assert backends.default_backend() == ("torch", "KERAS_BACKEND")
    monkeypatch.setenv("KERAS_BACKEND", "")  # Keras ignores an empty one
    assert backends.default_backend()[0] == "jax"
    (keras_home / "keras.json").write_text("{not json")
    assert backends.default_backend() == ("tensorflow", None)


def test_installed_backends_are_found_without_importing_them(monkeypatch):
    _installed_only(monkeypatch, "jax")
    assert backends.installed() == ["jax"]


def test_a_jax_only_install_is_pointed_at_jax(capsys, keras_home, monkeypatch):
    _installed_only(monkeypatch, "jax")
    assert _error_line(capsys, ["benchmark"]) == (
        "keras-sam: error: a benchmark on the tensorflow backend (Keras's default, as "
        "KERAS_BACKEND is not set) needs what is not installed here: pip install "
        "'keras-sam[tensorflow]'; or train on the installed jax backend: --backend jax")


def test_the_error_says_where_the_backend_came_from(capsys, keras_home, monkeypatch):
    _installed_only(monkeypatch, "torch")
    (keras_home / "keras.json").write_text(json.dumps({"backend": "jax"}))
    line = _error_line(capsys, ["benchmark"])
    assert f"on the jax backend (the backend of {keras_home / 'keras.json'}) needs" in line
    assert line.endswith("or train on the installed torch backend: --backend torch")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert "on the tensorflow backend (from KERAS_BACKEND) needs" in _error_line(
        capsys, ["benchmark"])
    # Chosen with --backend: no source, and no other backend to suggest.
    _installed_only(monkeypatch)
    assert _error_line(capsys, ["benchmark", "--backend", "jax"]) == (
        "keras-sam: error: a benchmark on the jax backend needs what is not installed "
        "here: pip install 'keras-sam[jax]'")


def test_a_keras_backend_the_benchmark_has_no_step_for(capsys, keras_home, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "openvino")
    assert _error_line(capsys, ["benchmark"]) == (
        "keras-sam: error: KERAS_BACKEND names the 'openvino' backend, which keras-sam "
        "benchmark does not train on: pass --backend with one of tensorflow, jax, torch")
