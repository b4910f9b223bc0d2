"""The `keras-sam` command: bad input is one line and exit code 2; a run writes its files.

(tests/launcher_test.py runs it in real processes: no backend for --help,
--version and the listings; native log lines only on request.)
"""

import csv
import fnmatch
import importlib.util
import json
import os

import pytest

import keras_sam_cli as cli


def _error_line(capsys, argv):
    code = cli.main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("keras-sam: error: ")
    assert "Traceback" not in captured.err and captured.out == ""
    return lines[0]


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["benchmark", "--label-noise", "1.0"], "label noise must be in [0, 1)"),
        (["benchmark", "--label-noise", "-0.1"], "label noise must be in [0, 1)"),
        (["benchmark", "--variants", "sam,nope"], "unknown variant 'nope'"),
        (["benchmark", "--variant-args", "sam:rho=-1"], "variant 'sam'"),
        (["benchmark", "--variant-args", "sam:k=2"],
         "variant 'sam': unexpected keyword argument 'k'; its arguments are rho, epsilon, "
         "centralize (defaults: keras-sam variants)"),
        (["benchmark", "--variant-args", "sam"], "ID:NAME=VALUE"),
        (["benchmark", "--variants", "sam", "--variant-args", "gam:rho=0.1"], "'gam', which is not among"),
        (["benchmark", "--seeds", "0"], "seed count >= 1"),
        (["benchmark", "--epochs", "two"], "positive integer"),
        (["benchmark", "--model", "mlp"], "invalid choice: 'mlp'"),
        (["benchmark", "--dataset", "no_such_dataset"], "unknown dataset 'no_such_dataset'"),
        (["benchmark", "--bogus"], "unrecognized arguments: --bogus"),
        (["benchmark", "--optimizer", "rmsprop"], "invalid choice: 'rmsprop'"),
        (["benchmark", "--backend", "numpy"], "invalid choice: 'numpy'"),
        ([], "the following arguments are required: COMMAND"),
        (["benchmark", "--suite", "claims", "--model", "gru"], "--suite claims sets --model"),
        (["benchmark", "--suite", "claims", "--variants", "sam"], "sets --variants per task"),
        (["benchmark", "--resume", "--overwrite"], "pass one of them"),
        (["benchmark", "--schedule", "step"], "invalid choice: 'step'"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(capsys, argv, expected):
    assert expected in _error_line(capsys, argv)


def test_a_backend_that_is_not_installed_is_one_line_and_exit_code_2(capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("jax", "tqdm") else real(name, *a))
    line = _error_line(capsys, ["benchmark", "--backend", "jax"])
    assert "on the jax backend" in line and "pip install 'keras-sam[benchmark,jax]'" in line


def test_unreachable_dataset_is_one_line_and_exit_code_2(capsys, tmp_path, monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")

    def no_download(self, *args, **kwargs):
        raise AssertionError("download attempted with --no-download")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_download)
    line = _error_line(
        capsys, ["benchmark", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--no-download"]
    )
    assert line.startswith(f"keras-sam: error: dataset 'cifar10' has no local copy in {tmp_path}")
    assert line.endswith("and --no-download is set: pass --data-dir DIR with a copy prepared "
                         "where there is network (`tfds build cifar10 --data_dir DIR`), or "
                         "drop --no-download to download it")


def test_offline_a_missing_dataset_fails_at_once_naming_the_flags(capsys, tmp_path, offline):
    pytest.importorskip("tensorflow_datasets")
    import logging
    import time

    lookups = offline
    start = time.monotonic()
    code = cli.main(["benchmark", "--dataset", "mnist", "--data-dir", str(tmp_path)])
    assert time.monotonic() - start < 30  # tfds's own retries take about 200 s offline
    assert len(lookups) <= 4 * 2  # mnist's 4 files, each tried and retried once
    # stdout holds tfds's "Downloading and preparing dataset ..." notice; the
    # retries' warnings are hidden (pytest captures logging, so this is asked).
    assert logging.getLogger("urllib3").getEffectiveLevel() == logging.ERROR
    (line,) = capsys.readouterr().err.splitlines()
    assert code == 2 and line.startswith("keras-sam: error: dataset 'mnist' has no local copy")
    assert "could not be downloaded (NameResolutionError: " in line
    assert line.endswith("pass --data-dir DIR with a copy prepared where there is network "
                         "(`tfds build mnist --data_dir DIR`), and --no-download not to try "
                         "downloading")


def test_help_states_the_defaults(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["benchmark", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"{cli.DEFAULT_EPOCHS} epochs" in text
    assert "SGD with momentum 0.9" in text and "cosine" in text
    assert "30 % symmetric label noise" in text
    # The time depends on the machine: the help gives none, only that it
    # grows with the methods, and where the committed run's times are.
    assert "grows with the number of methods" in text and "minutes" not in text
    assert "docs/benchmarks/mnist1d.md" in text and "--variant-args" in text


@pytest.mark.benchmark_run
def test_benchmark_writes_table_json_csv_and_png(capsys, tmp_path):
    output = tmp_path / "bench"
    code = cli.main([
        "benchmark", "--num-samples", "600", "--epochs", "1", "--seeds", "1",
        "--variants", "sam,look_sam", "--variant-args", "look_sam:k=2",
        "--hessian-iterations", "2", "--flatness-samples", "64",
        "--output", str(output), "--quiet",
    ])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    rows = [line for line in captured.out.splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in rows] == ["method", "ERM", "SAM", "LookSAM"]
    results = json.loads((output / "results.json").read_text())
    assert [row["method"] for row in results["summary"]] == ["erm", "sam", "look_sam"]
    assert results["config"]["variant_args"] == {"look_sam": {"k": 2}}
    assert results["config"]["label_noise"] == 0.3 and results["config"]["seeds"] == [0]
    look_sam = results["summary"][2]
    assert look_sam["sam_fraction"] == pytest.approx(0.5, abs=0.1)  # every 2nd step
    with open(output / "results.csv") as f:
        assert [row["method"] for row in csv.DictReader(f)] == ["erm", "sam", "look_sam"]
    assert (output / "results.png").read_bytes()[:4] == b"\x89PNG"
    assert (output / "table.md").read_text().count("\n") == 5
    assert len((output / "runs.jsonl").read_text().splitlines()) == 1 + 3  # config + runs
    # The same output again is refused; --resume retrains nothing.
    argv = ["benchmark", "--num-samples", "600", "--epochs", "1", "--seeds", "1",
            "--variants", "sam,look_sam", "--variant-args", "look_sam:k=2",
            "--hessian-iterations", "2", "--flatness-samples", "64",
            "--output", str(output), "--quiet"]
    assert "already holds results" in _error_line(capsys, argv)
    assert cli.main(argv + ["--resume"]) == 0
    capsys.readouterr()
    resumed = json.loads((output / "results.json").read_text())
    assert resumed["runs"] == results["runs"]  # wall times too: nothing retrained
    assert resumed["total_time_s"] == results["total_time_s"] > 0
    assert "epochs: 1 then, 2 now" in _error_line(
        capsys, argv[:4] + ["2"] + argv[5:] + ["--resume"])


@pytest.mark.slow
@pytest.mark.benchmark_run
def test_claims_suite_writes_each_task_and_a_claims_table(capsys, tmp_path):
    output = tmp_path / "claims"
    argv = [
        "benchmark", "--suite", "claims", "--num-samples", "400", "--epochs", "1",
        "--seeds", "2", "--hessian-iterations", "1", "--flatness-samples", "32",
        "--output", str(output), "--quiet", "--batch-size", "64",
    ]
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    from keras_sam_bench import claims, costs, verdicts

    report = json.loads((output / "claims.json").read_text())
    assert len(report["claims"]) == len(claims.CLAIMS)
    by_task = {}
    for task in claims.TASKS:
        results = json.loads((output / task.name / "results.json").read_text())
        assert results["config"]["model"] == task.config["model"]
        assert results["config"]["optimizer"] == task.config["optimizer"]
        by_task[task.name] = results
    # each verdict recomputed from the files (one epoch: no regime reached,
    # and no interleaved step-time file: every claim is "not tested")
    assert report["claims"] == json.loads(json.dumps(
        verdicts.evaluate_all(by_task, costs.load(str(output)))))
    assert {row["verdict"] for row in report["claims"]} == {"not tested"}
    assert len(report["regimes"]) == sum(len(t.checks) + bool(t.power) for t in claims.TASKS)
    text = (output / "claims.md").read_text()
    assert text.strip() == verdicts.format_document(report)
    assert text.strip() in captured.out
    # A task added to the suite since (here: one whose folder is gone) is
    # trained by --resume; the others are not retrained.
    import shutil

    last = claims.TASKS[-1].name
    kept = json.loads((output / claims.TASKS[0].name / "results.json").read_text())
    shutil.rmtree(output / last)
    code = cli.main(argv + ["--resume"])
    assert code == 0, capsys.readouterr().err
    again = json.loads((output / claims.TASKS[0].name / "results.json").read_text())
    assert again["runs"] == kept["runs"]
    assert (output / last / "results.json").exists()


def test_version(capsys):
    import keras_sam

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"keras-sam {keras_sam.__version__}"


def test_console_script_points_at_main():
    import tomllib

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "pyproject.toml"), "rb") as f:
        pyproject = tomllib.load(f)
    project = pyproject["project"]
    assert project["scripts"]["keras-sam"] == "keras_sam_cli:main"
    # The entry point's package ships in the wheel with keras_sam.
    found = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in ("keras_sam_cli", "keras_sam_bench", "keras_sam_bench.data"):
        assert any(fnmatch.fnmatchcase(package, pattern) for pattern in found), package
    # The core needs only keras and numpy; the benchmark's packages are an extra.
    assert sorted(d.split(">")[0] for d in project["dependencies"]) == ["keras", "numpy"]
    benchmark = project["optional-dependencies"]["benchmark"]
    assert {"mnist1d", "matplotlib", "tqdm"} <= {d.split(">")[0] for d in benchmark}


def test_torch_runs_one_step_per_execution():
    from keras_sam_bench import command

    parse = cli.build_parser().parse_args
    config = command.make_config(parse(["benchmark", "--backend", "torch"]))
    assert config.steps_per_execution == 1
    default = parse(["benchmark", "--backend", "tensorflow"])
    assert command.make_config(default).steps_per_execution == 8
    with pytest.raises(command.BadInput, match="must be 1 on the torch backend"):
        command.make_config(
            parse(["benchmark", "--backend", "torch", "--steps-per-execution", "4"])
        )
