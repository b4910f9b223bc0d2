"""Step time of two versions of keras_sam, from runs of `step_time.py` each.

Each run of `benchmarks/step_time.py` measures every method interleaved with
ERM in one process, so its ×ERM ratios hold under load; runs of the two
versions alternate (before, after, before, ...). This prints, per jit
setting and method, the median ×ERM of each version over its runs, their
range, and after/before.

    python benchmarks/compare_step_time.py docs/benchmarks/one_step_refactor
"""

import collections
import json
import pathlib
import statistics
import sys


def ratios(folder):
    table = collections.defaultdict(lambda: collections.defaultdict(list))
    for path in sorted(pathlib.Path(folder).glob("*_*.json")):
        side = path.stem.rsplit("_", 1)[0]
        for result in json.loads(path.read_text())["results"]:
            key = ("on" if result["jit"] else "off", result["method"])
            table[key][side].append(result["ratio_erm"])
    return table


def main(argv=None):
    folder = (argv or sys.argv[1:])[0]
    print("| jit | method | before ×ERM [range] | after ×ERM [range] | after/before |")
    print("|---|---|---:|---:|---:|")
    for (jit, method), sides in sorted(ratios(folder).items()):
        before, after = sides["before"], sides["after"]
        b, a = statistics.median(before), statistics.median(after)
        print(f"| {jit} | {method} | {b:.3f} [{min(before):.2f}, {max(before):.2f}] "
              f"| {a:.3f} [{min(after):.2f}, {max(after):.2f}] | {a / b:.3f} |")


if __name__ == "__main__":
    main()
