"""The overhead ablation switches off what it says (op counts, not timings)."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.tensorflow_only, pytest.mark.slow]  # counts TF graph ops

ROOT = pathlib.Path(__file__).parents[2]


def test_each_switch_removes_ops_and_all_three_reach_the_floor(tmp_path):
    stem = tmp_path / "ablation"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "overhead_ablation.py"),
         "--repeats", "2", "--steps", "3", "--output", str(stem)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {r["method"]: r for r in json.loads(stem.with_suffix(".json").read_text())["rows"]}
    ops = {name: row["executed_ops"] for name, row in rows.items()}
    switched = [name for name in ops if name.startswith("SAM, no ")]
    assert len(switched) == 3
    for name in switched:
        assert ops[name] < ops["SAM"], ops
    assert ops["SAM, none of the three"] < min(ops[name] for name in switched), ops
    # Without its guarantees and logs SAMModel runs about the floor's ops.
    assert abs(ops["SAM, none of the three"] - ops["floor"]) <= 0.05 * ops["floor"], ops
    def is_finite(name):
        return rows[name]["op_types"].get("IsFinite", 0)

    # One per gradient and update tensor in the test; one for the norm.
    assert is_finite("SAM") > is_finite("SAM, no finiteness test") + 8
    assert is_finite("SAM, none of the three") == 0
    assert all(len(row["seconds"]) == 2 for row in rows.values())
