"""Runs `step_time.py` once per Keras backend and compares the backends.

    python benchmarks/backends.py --backends tensorflow,jax,torch \\
        --output docs/benchmarks/backends --models cnn --jit off

Every argument other than `--backends` and `--output` goes to `step_time.py`
unchanged; each backend runs in its own process (`KERAS_BACKEND=...`), one
after the other, so they never share the machine. A backend that fails
(e.g. not installed) gets a note instead of numbers. `--jit on` is
`torch.compile` on torch (slow to warm up). Writes `STEM.md` (one table per
model and jit setting: each backend's ms/step and ×ERM, its own ERM; then
SAMModel SAM / floor per backend) and each backend's own report as
`STEM_<backend>.md` and `.json`.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

from keras_sam_bench import render, render_step_time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def run_backend(backend, argv, stem):
    """`step_time.py argv` under `backend`: its JSON result, or an error line."""
    env = dict(os.environ, KERAS_BACKEND=backend)
    print(f"== {backend}", file=sys.stderr, flush=True)
    process = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "step_time.py"), *argv, "--output", stem],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    last = "?"
    for line in process.stderr:  # its progress log, passed on
        sys.stderr.write(line)
        last = line.strip() or last
    if process.wait():
        return f"failed (exit {process.returncode}): {last}"
    with open(stem + ".json") as f:
        return json.load(f)


def markdown(results, argv):
    """The side-by-side report of `{backend: result or error line}`."""
    return render_step_time.backends(results, argv)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--output", default=None,
                        help="path stem: writes STEM.md and STEM_<backend>.md/.json")
    args, rest = parser.parse_known_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for backend in [b for b in args.backends.split(",") if b]:
            stem = (os.path.splitext(args.output)[0] + f"_{backend}" if args.output
                    else os.path.join(folder, backend))
            os.makedirs(os.path.dirname(stem) or ".", exist_ok=True)
            results[backend] = run_backend(backend, rest, stem)
    text = markdown(results, rest)
    print(text)
    if args.output:
        stem = os.path.splitext(args.output)[0]
        with open(stem + ".md", "w") as f:
            if all(isinstance(r, dict) for r in results.values()):
                text = render.marked([f"{stem}_{b}.json" for b in results], text)
            f.write(text)
    return results


if __name__ == "__main__":
    main()
