"""`keras-sam benchmark --output` and Ctrl-C: one line each, never a traceback.

An --output the benchmark cannot write to is refused while the arguments are
parsed (exit 2, before any backend is imported: tests/launcher_test.py); a run
interrupted with Ctrl-C ends with exit code 130 and the one line naming the
`--resume` command that continues it, which then trains only what is missing.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import keras_sam_cli
from keras_sam_cli import arguments

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = ["--num-samples", "400", "--epochs", "1", "--seeds", "1", "--variants", "sam",
         "--hessian-iterations", "1", "--flatness-samples", "32", "--quiet"]


def _main(argv):
    try:
        return keras_sam_cli.main(argv)
    except KeyboardInterrupt:  # would stop the whole test session
        pytest.fail("KeyboardInterrupt escaped keras_sam_cli.main")


def _error_line(capsys, argv):
    # Unknown variant 'nope' ends a run whose --output check is gone (after
    # the backend import) instead of training.
    code = _main(argv + ["--variants", "nope"])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert captured.out == ""
    return lines[0]


def test_an_output_that_is_a_file_is_refused(capsys, tmp_path):
    path = tmp_path / "results.json"
    path.write_text("{}")
    line = _error_line(capsys, ["benchmark", "--output", str(path)])
    assert line == (f"keras-sam: error: argument --output: {str(path)!r} is a file, not a "
                    "folder: name a folder for the results (it is created if missing)")
    line = _error_line(capsys, ["benchmark", "--output", str(path / "run")])
    assert f"{str(path / 'run')!r} cannot be created: {str(path)!r} is a file" in line


def test_an_unwritable_output_is_refused(capsys, tmp_path, monkeypatch):
    # As root every folder is writable, so the permission is simulated.
    readonly = str(tmp_path / "readonly")
    os.mkdir(readonly)
    real = os.access
    monkeypatch.setattr(arguments.os, "access",
                        lambda path, mode: path != readonly and real(path, mode))
    line = _error_line(capsys, ["benchmark", "--output", readonly])
    assert line.endswith(f"{readonly!r} is not writable here: choose a folder you can "
                         "write to")
    nested = os.path.join(readonly, "a", "b")
    line = _error_line(capsys, ["benchmark", "--output", nested])
    assert f"{nested!r} would be created in {readonly!r}, which is not writable" in line


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root may write to any folder")
def test_a_read_only_folder_is_refused(capsys, tmp_path):
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    try:
        assert "is not writable here" in _error_line(
            capsys, ["benchmark", "--output", str(readonly)])
    finally:
        readonly.chmod(0o755)


def test_missing_parents_are_created_when_the_run_starts(tmp_path):
    # A folder that does not exist yet, under missing parents, is accepted.
    nested = str(tmp_path / "runs" / "2025" / "sam")
    assert arguments.output_folder(nested) == nested
    assert not os.path.exists(tmp_path / "runs")


def _run_one_interrupted_at(call):
    """A `runner.run_one` that raises KeyboardInterrupt on its `call`-th call."""
    from keras_sam_bench import runner

    real, calls = runner.run_one, []

    def run_one(identifier, *args, **kwargs):
        calls.append(identifier)
        if len(calls) == call:
            raise KeyboardInterrupt
        return real(identifier, *args, **kwargs)

    return run_one, calls


@pytest.mark.benchmark_run
def test_ctrl_c_is_one_line_exit_130_and_resume_loses_nothing(capsys, tmp_path, monkeypatch):
    from keras_sam_bench import runner

    output = tmp_path / "run"
    argv = ["benchmark", *SMALL, "--output", str(output), "--overwrite"]
    interrupted, calls = _run_one_interrupted_at(2)  # ERM finishes, SAM is interrupted
    monkeypatch.setattr(runner, "run_one", interrupted)
    assert _main(argv) == keras_sam_cli.INTERRUPTED == 130
    captured = capsys.readouterr()
    resume = argv[:-1] + ["--resume"]  # --overwrite would discard the finished run
    assert captured.err.splitlines() == [
        f"keras-sam: interrupted; every finished run is saved in {output}: "
        f"`keras-sam {' '.join(resume)}` (the same arguments with --resume) continues, "
        "training only what is missing"]
    lines = (output / "runs.jsonl").read_text().splitlines()
    assert [json.loads(line).get("key") for line in lines] == [None, "final/erm/0"]
    erm = json.loads(lines[1])["record"]
    # The printed command continues the run: only SAM is trained.
    again, calls = _run_one_interrupted_at(0)
    monkeypatch.setattr(runner, "run_one", again)
    assert keras_sam_cli.main(resume) == 0, capsys.readouterr().err
    assert calls == ["sam"]
    results = json.loads((output / "results.json").read_text())
    assert results["runs"][0] == erm


def test_ctrl_c_before_the_first_run_says_there_is_nothing_to_resume(
        capsys, tmp_path, monkeypatch):
    from keras_sam_bench import command

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "load_dataset", interrupted)
    argv = ["benchmark", "--output", str(tmp_path / "run"), "--quiet"]
    assert _main(argv) == 130
    assert capsys.readouterr().err.splitlines() == [
        "keras-sam: interrupted before the first run was saved; nothing to resume: "
        f"`keras-sam {' '.join(argv)}` starts again"]


@pytest.mark.slow
@pytest.mark.benchmark_run
def test_sigint_in_a_real_process(tmp_path):
    output = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "keras_sam_cli", "benchmark", *SMALL, "--epochs", "3",
         "--output", str(output)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "KERAS_BACKEND": "tensorflow"})
    runs = output / "runs.jsonl"
    deadline = time.monotonic() + 300
    while not (runs.exists() and len(runs.read_text().splitlines()) >= 2):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)  # while SAM trains
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("keras-sam: interrupted; every finished run is saved in ")
    assert err.rstrip().endswith("--resume` (the same arguments with --resume) continues, "
                                 "training only what is missing")
