"""Step time of two versions of keras_sam, from runs of `step_time.py` each.

Each run of `benchmarks/step_time.py` measures every method interleaved with
ERM in one process, so its ×ERM ratios hold under load; runs of the two
versions alternate (before, after, before, ...). This prints, per jit
setting and method, the median over each version's runs, their range, and
after/before, of two ratios: ×ERM, and ×floor (the hand-written two-pass
step of the same process, which no version of keras_sam changes: a ×ERM
that moves with the floor's moved with the process, not with keras_sam).

    python benchmarks/compare_step_time.py docs/benchmarks/one_step_refactor
"""

import collections
import json
import pathlib
import statistics
import sys


def ratios(folder):
    """`{(jit, method): {reference: {side: [ratio per run]}}}`."""
    table = collections.defaultdict(
        lambda: collections.defaultdict(lambda: collections.defaultdict(list)))
    for path in sorted(pathlib.Path(folder).glob("*_*.json")):
        side = path.stem.rsplit("_", 1)[0]
        results = json.loads(path.read_text())["results"]
        floor = {r["jit"]: r["ratio_erm"] for r in results if r["method"] == "floor"}
        for result in results:
            key = ("on" if result["jit"] else "off", result["method"])
            table[key]["ERM"][side].append(result["ratio_erm"])
            if result["jit"] in floor:
                table[key]["floor"][side].append(result["ratio_erm"] / floor[result["jit"]])
    return table


def _cell(values):
    return f"{statistics.median(values):.3f} [{min(values):.2f}, {max(values):.2f}]"


def main(argv=None):
    folder = (argv or sys.argv[1:])[0]
    print("| jit | method | ratio | before [range] | after [range] | after/before |")
    print("|---|---|---|---:|---:|---:|")
    for (jit, method), references in sorted(ratios(folder).items()):
        if method in ("erm", "floor"):
            continue
        for reference, sides in references.items():
            before, after = sides["before"], sides["after"]
            change = statistics.median(after) / statistics.median(before)
            print(f"| {jit} | {method} | ×{reference} | {_cell(before)} "
                  f"| {_cell(after)} | {change:.3f} |")


if __name__ == "__main__":
    main()
