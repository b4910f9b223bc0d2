"""Renders benchmark tables into Markdown docs from committed results files.

A doc marks each generated table:

    <!-- rendered from docs/benchmarks/claims/claims.json -->
    | ... the table ... |
    <!-- end rendered -->

and `python -m keras_sam_bench.render` rewrites every such block from its
file (a benchmark's `results.json` gives its results table, a
`claims.json` the claims table), so a doc cannot quote numbers its results
files do not hold. `--check` changes nothing and exits 1 when a block is
out of date (the test suite runs the same check).

Step-time results files (benchmarks/step_time.py, backends.py,
overhead_ablation.py) name a view after `#`, and several files are joined
by `,`:

    <!-- rendered from docs/benchmarks/step_time.json#summary -->
    <!-- rendered from docs/benchmarks/a.json,docs/benchmarks/b.json#floor -->

(views: keras_sam_bench/render_step_time.py; a step_time.json without a
view renders its whole report, an overhead_ablation.json its table.) A
benchmark's `results.json#time` renders one sentence: how many methods and
seeds the run trained and how long it took (`total_time_s`), so a doc
states a run's time only as its file records it.
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
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(path, root):
    with open(os.path.join(root, path)) as f:
        return json.load(f)


ADVICE_ROW = re.compile(r"^(\| \[[^\]]+\]\(variants/(\w+)\.md\) \|.*?)"
                        r"(?: — its paper's claim.*)? \|$", re.M)


def own_claims(method, claims):
    """The claims of `method`'s own paper among claims.json's rows (GA-SAM's
    claim about SAM is GA-SAM's, not SAM's)."""
    def paper(claim):
        return claim["paper"].split(" (")[0].replace("-", "").lower()
    return [c for c in claims if c["method"] == method
            and paper(c) == method.replace("_", "")]


def measured_here(method, claims):
    """One line per claim of `method`'s own paper: the claim, its baseline and
    task, and the verdict (with why, when it was not tested)."""
    from keras_sam_bench.summary import method_label

    lines = []
    for c in own_claims(method, claims):
        line = (f"- \"{c['claim']}\" ({method_label(c['method'])} against "
                f"{method_label(c['baseline'])}, {c['task']} task): **{c['verdict']}**")
        if c.get("not_tested"):
            line += f": {c['not_tested']}"
        lines.append(line)
    return "\n".join(lines)


def advice(body, claims):
    """`body` (a table whose rows link `variants/<id>.md`) with each row's
    last cell ending in its variant's own claims and their verdicts from
    `claims` (claims.json's rows): "— its paper's claim, ...: **verdict** here"."""
    def row(match):
        mine = own_claims(match[2], claims)
        if not mine:
            return match[1] + " |"
        said = "; ".join(f"{c['claim']} (vs {c['baseline'].upper()}): **{c['verdict']}** here"
                         for c in mine)
        return f"{match[1]} — its paper's claim, {said} |"
    return ADVICE_ROW.sub(row, body).rstrip("\n")


def table_for(spec, root=ROOT, body=""):
    """The Markdown a results file (`PATH`, `PATH#VIEW`, `P1,P2#VIEW`) renders
    to; `body` is the block's current text (the `#advice` view keeps it and
    rewrites its verdicts)."""
    from keras_sam_bench import render_step_time, report, verdicts

    paths, _, view = spec.partition("#")
    paths = paths.split(",")
    if len(paths) == 1 and os.path.basename(paths[0]) == "esam_selection.json":
        return esam_selection(_load(paths[0], root))
    if (len(paths) == 1 and os.path.basename(paths[0]) == "claims.json"
            and view.startswith("variant:")):
        return measured_here(view.split(":", 1)[1], _load(paths[0], root)["claims"])
    if len(paths) == 1 and os.path.basename(paths[0]) == "claims.json" and view == "advice":
        return advice(body, _load(paths[0], root)["claims"])
    if len(paths) == 1 and os.path.basename(paths[0]) == "claims.json" and not view:
        return verdicts.format_document(_load(paths[0], root))
    if len(paths) == 1 and os.path.basename(paths[0]) == "results.json" and not view:
        return report.format_results(_load(paths[0], root))
    if len(paths) == 1 and os.path.basename(paths[0]) == "results.json" and view == "time":
        return run_time(_load(paths[0], root))
    results = {os.path.splitext(os.path.basename(p))[0]: _load(p, root) for p in paths}
    if not view:
        first = next(iter(results.values()))
        view = ("ablation" if "rows" in first else
                "report" if len(paths) == 1 else "backends")
    return render_step_time.render(results, view)


def esam_selection(result):
    """The table of benchmarks/esam_selection.py's results: the share of
    mislabelled rows among the rows ESAM keeps against the batches'."""
    lines = ["| epoch | mislabelled share of the rows ESAM keeps | of the batches | "
             "ratio | ESAM's test accuracy, % |", "|---:|---:|---:|---:|---:|"]
    for point in result["mean"]:
        kept, batch = point["mislabelled_share_kept"], point["mislabelled_share_batch"]
        lines.append(f"| {point['epoch']} | {kept:.3f} | {batch:.3f} | {kept / batch:.2f} | "
                     f"{point['test_accuracy']:.1f} |")
    lines += ["", f"Mean over seeds {', '.join(map(str, result['seeds']))}; "
              f"{result['batches']} batches of 128 training rows per checkpoint "
              f"(`{result['command']}`)."]
    return "\n".join(lines)


def run_time(result):
    """The sentence a benchmark's results.json renders to under `#time`."""
    config, machine = result["config"], result["environment"]
    variants, seeds = len(config["variants"]), len(config["seeds"])
    return (f"That run trained ERM and {variants} variants on {seeds} seeds each, "
            f"{config['epochs']} epochs per run"
            f"{' (tuning included)' if config.get('tune') else ''}, in "
            f"{result['total_time_s'] / 60:.0f} "
            f"minutes on {machine['cpu_count']} CPU cores ({machine['backend']} "
            f"backend, `total_time_s` in its `results.json`).")


def marked(paths, text, root=ROOT):
    """`text` (a page a benchmark writes) marked as rendered from `paths`.

    `paths`: one results file or a list of them. Unmarked where one lies
    outside the repository: `--check` only reads the repository's files.
    """
    paths = [paths] if isinstance(paths, str) else list(paths)
    relative = [os.path.relpath(os.path.abspath(p), root) for p in paths]
    if any(r.startswith("..") for r in relative):
        return text
    return (f"<!-- rendered from {','.join(relative)} -->\n{text.rstrip()}\n"
            "<!-- end rendered -->\n")


def render_text(text, root=ROOT):
    """`text` with every rendered block rebuilt from its file."""
    return BLOCK.sub(
        lambda m: m["head"] + table_for(m["path"], root, m["body"]) + "\n" + m["tail"], text
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
    parser = argparse.ArgumentParser(prog="python -m keras_sam_bench.render",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a rendered block is out of date")
    args = parser.parse_args(argv)
    outdated = stale()
    if args.check:
        for path in outdated:
            print(f"{path}: rendered tables out of date; run python -m keras_sam_bench.render")
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
