"""Renders benchmark tables into Markdown docs from committed results files.

A doc marks each generated table:

    <!-- rendered from docs/benchmarks/claims/claims.json -->
    | ... the table ... |
    <!-- end rendered -->

and `python -m keras_sam.bench.render` rewrites every such block from its
file (a benchmark's `results.json` gives its results table, a
`claims.json` the claims table), so a doc cannot quote numbers its results
files do not hold. `--check` changes nothing and exits 1 when a block is
out of date (the test suite runs the same check).
"""

import argparse
import glob
import json
import os
import re
import sys

BLOCK = re.compile(
    r"(?P<head><!-- rendered from (?P<path>\S+) -->\n)(?P<body>.*?)(?P<tail><!-- end rendered -->)",
    re.S,
)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def table_for(path, root=ROOT):
    """The Markdown table a results file renders to."""
    from keras_sam.bench import claims, report

    with open(os.path.join(root, path)) as f:
        results = json.load(f)
    if os.path.basename(path) == "claims.json":
        return claims.format_table(results["claims"])
    if os.path.basename(path) == "results.json":
        return report.format_table(results["summary"])
    raise ValueError(f"cannot render {path!r}: expected a results.json or claims.json")


def render_text(text, root=ROOT):
    """`text` with every rendered block rebuilt from its file."""
    return BLOCK.sub(
        lambda m: m["head"] + table_for(m["path"], root) + "\n" + m["tail"], text
    )


def documents(root=ROOT):
    """README.md and every Markdown page under docs/."""
    return [os.path.join(root, "README.md")] + sorted(
        glob.glob(os.path.join(root, "docs", "**", "*.md"), recursive=True)
    )


def stale(root=ROOT):
    """The documents whose rendered blocks differ from their files."""
    out = []
    for path in documents(root):
        with open(path) as f:
            text = f.read()
        if render_text(text, root) != text:
            out.append(os.path.relpath(path, root))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m keras_sam.bench.render",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a rendered block is out of date")
    args = parser.parse_args(argv)
    outdated = stale()
    if args.check:
        for path in outdated:
            print(f"{path}: rendered tables out of date; run python -m keras_sam.bench.render")
        return 1 if outdated else 0
    for path in outdated:
        full = os.path.join(ROOT, path)
        with open(full) as f:
            text = render_text(f.read())
        with open(full, "w") as f:
            f.write(text)
        print(f"rendered {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
