"""Markdown of the step-time benchmarks' results files (benchmarks/step_time.py,
benchmarks/backends.py, benchmarks/overhead_ablation.py).

`render(results, view)` turns loaded results files into one of these views:

- `report` (one step_time.json): the whole report: header, targets, one
  table per model and jit setting (what step_time.py prints);
- `summary` (one step_time.json): ×ERM of every method, one column per
  model and jit setting;
- `targets` (one step_time.json): the targets table alone;
- `ablation` (overhead_ablation.json): the ablation table;
- `backends` (several step_time.json, one per backend): ms/step and ×ERM
  side by side, then SAMModel SAM / floor per backend;
- `floor` (several step_time.json): SAMModel SAM / floor per results file.

Methods and models are read from the files, never listed here, so a new
variant's rows render once a run includes it. A row's model is shown by its
`model_label` (benchmarks/step_time_models.py), falling back to its id.
"""

ERM, FLOOR = "erm", "floor"
LABELS = {ERM: "ERM (keras.Model)", FLOOR: "floor (hand-written SAM)"}


def _fmt(value, digits=2, suffix=""):
    return "–" if value is None else f"{value:.{digits}f}{suffix}"


def model_label(row):
    """How a result row's model is named in the docs."""
    return row.get("model_label") or row["model"]


def backend_of(result):
    """`(backend, version)` of a results file (older files: `{'tensorflow': v}`)."""
    m = result["machine"]
    if "backend" in m:
        return m["backend"], m["backend_version"]
    name = next(b for b in ("tensorflow", "jax", "torch") if b in m)
    return name, m[name]


def _groups(rows):
    groups = {}
    for row in rows:
        groups.setdefault((model_label(row), row["jit"]), []).append(row)
    return groups


def header(result):
    """The report's first lines: command, machine, load, memory."""
    info = result["machine"]
    backend, version = backend_of(result)
    return [
        f"Command: `{result['command']}`  ",
        f"Machine: {info['cpu']}, {info['cpu_count']} CPU cores, GPUs: "
        f"{', '.join(info['gpus']) or 'none'}; backend {backend} {version}, "
        f"Keras {info['keras']}  ",
        f"Load average (1/5/15 min) before: {result['load_average_before']}, after: "
        f"{result['load_average_after']}; wall time {result['wall_seconds']} s  ",
        f"Memory: {result['memory']}.",
    ]


def targets_table(checks):
    lines = ["| target | where | measured | limit | result |", "|---|---|---:|---:|---|"]
    for c in checks:
        verdict = "pass" if c["pass"] else "**FAIL**"
        lines.append(f"| {c['target']} | {c['where']} | {c['value']:.3f} | "
                     f"{c['limit']:.3f} | {verdict} |")
    return lines


def _noise_line(group):
    """How much ERM's own time moved between rounds: the load on the machine."""
    erm = next((r for r in group if r["method"] == ERM), None)
    if erm is None or not erm.get("times_ms"):
        return ""
    low, high = min(erm["times_ms"]), max(erm["times_ms"])
    return (f"ERM per round: {low:.2f}–{high:.2f} ms/step "
            f"(max/min {high / low:.2f}: the noise of this group).")


def markdown(rows, checks, header_lines):
    """The report: a header, the targets, then one table per model and jit."""
    lines = list(header_lines) + ["", "### Targets (keras_sam's step-time goals)", ""]
    lines += targets_table(checks)
    for (model, jit), group in _groups(rows).items():
        first = group[0]
        lines += [
            "",
            f"### {model}, jit_compile={'True' if jit else 'False'} "
            f"(batch {first['batch_size']}, {first['parameters']:,} weights, "
            f"{first['timed_steps']} timed steps × {len(first['times_ms'])} rounds)",
            "",
            _noise_line(group),
            "",
            "| method | median ms/step | ×ERM | ×floor | predicted passes "
            "| predicted ×ERM | measured/predicted | sam_fraction "
            "| peak MB | Δpeak vs ERM MB |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in group:
            predicted = r.get("predicted_ratio")
            excess = None if predicted is None else r["ratio_erm"] / predicted
            lines.append(
                f"| {LABELS.get(r['method'], r['label'])} | {r['median_ms']:.2f} | "
                f"{r['ratio_erm']:.2f} | {_fmt(r.get('ratio_floor'))} | "
                f"{_fmt(r['passes'])} | {_fmt(predicted)} | {_fmt(excess)} | "
                f"{_fmt(r['sam_fraction'])} | {_fmt(r['peak_mb'], 1)} | "
                f"{_fmt(r['peak_delta_mb'], 1)} |"
            )
    return "\n".join(lines) + "\n"


def summary(result):
    """×ERM of every method (rows) in every model and jit setting (columns)."""
    groups = _groups(result["results"])
    methods = {}
    for group in groups.values():
        for r in group:
            methods.setdefault(r["method"], LABELS.get(r["method"], r["label"]))
    lines = ["| ×ERM (median of rounds) | " + " | ".join(
        f"{model}, jit {'on' if jit else 'off'}" for model, jit in groups) + " |",
        "|---|" + "---:|" * len(groups)]
    for method, label in methods.items():
        cells = []
        for group in groups.values():
            row = next((r for r in group if r["method"] == method), None)
            cells.append(_fmt(row and row["ratio_erm"]))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ablation(result):
    """benchmarks/overhead_ablation.py's table."""
    rows = result["rows"]
    rounds = len(rows[0]["seconds"])
    lines = [f"{result.get('model_label', result.get('model', 'cnn'))}, "
             f"jit_compile=False, {rounds} interleaved rounds.", "",
             "| method | median ms/step | ×floor (median of rounds) | quartiles "
             "| ops executed per step |", "|---|---:|---:|---|---:|"]
    for row in rows:
        low, high = row["x_floor_quartiles"]
        lines.append(f"| {row['method']} | {row['median_ms']:.2f} | {row['x_floor']:.3f} "
                     f"| {low:.3f}–{high:.3f} | {row['executed_ops']} |")
    return "\n".join(lines)


def _by_group(results):
    """`{(model, jit): {method: {name: row}}}` over `{name: result}`."""
    out = {}
    for name, result in results.items():
        for r in result["results"]:
            out.setdefault((model_label(r), r["jit"]), {}).setdefault(
                r["method"], {})[name] = r
    return out


def floor_table(results):
    """SAMModel SAM / hand-written floor, one column per results file."""
    names = list(results)
    lines = ["| model | jit | " + " | ".join(names) + " |",
             "|---|---|" + "---:|" * len(names)]
    for (model, jit), methods in _by_group(results).items():
        sam = methods.get("sam", {})
        lines.append(f"| {model} | {'on' if jit else 'off'} | " + " | ".join(
            _fmt(sam[b]["ratio_floor"]) if b in sam else "–" for b in names) + " |")
    return "\n".join(lines)


def backends(results, argv=None):
    """Backends side by side: `{backend: result or an error line}`."""
    ok = {b: r for b, r in results.items() if isinstance(r, dict)}
    if argv is None:
        first = next(iter(ok.values()))["command"].split("step_time.py", 1)[1].split()
        argv = first[:first.index("--output")] if "--output" in first else first
    lines = [f"Arguments to step_time.py: `{' '.join(argv) or '(defaults)'}`", ""]
    for backend, result in results.items():
        if not isinstance(result, dict):
            lines.append(f"- {backend}: {result}")
            continue
        m = result["machine"]
        lines.append(f"- {backend} {backend_of(result)[1]} (Keras {m['keras']}) on "
                     f"{', '.join(m['gpus']) or m['cpu']}; wall time "
                     f"{result['wall_seconds']} s; memory: {result['memory']}")
    names = list(ok)
    for (model, jit), methods in _by_group(ok).items():
        lines += ["", f"### {model}, jit {'on' if jit else 'off'}", "",
                  "| method | " + " | ".join(f"{b} ms/step | {b} ×ERM" for b in names)
                  + " |", "|---|" + "---:|---:|" * len(names)]
        for method, by_backend in methods.items():
            cells = []
            for b in names:
                r = by_backend.get(b)
                cells += [_fmt(r["median_ms"]), _fmt(r["ratio_erm"])] if r else ["–", "–"]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += ["", "### SAMModel SAM / hand-written floor", "", floor_table(ok)]
    return "\n".join(lines) + "\n"


def _one(results, view):
    if len(results) != 1:
        raise ValueError(f"view {view!r} renders one results file, got {list(results)}")
    return next(iter(results.values()))


VIEWS = {
    "report": lambda rs: markdown(_one(rs, "report")["results"],
                                  _one(rs, "report")["targets"],
                                  header(_one(rs, "report"))).rstrip("\n"),
    "summary": lambda rs: summary(_one(rs, "summary")),
    "targets": lambda rs: "\n".join(targets_table(_one(rs, "targets")["targets"])),
    "ablation": lambda rs: ablation(_one(rs, "ablation")),
    "backends": lambda rs: backends(
        {backend_of(r)[0]: r for r in rs.values()}).rstrip("\n"),
    "floor": floor_table,
}


def render(results, view):
    """The Markdown of `view` for `{name: loaded results file}`."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}: choose one of {', '.join(VIEWS)}")
    return VIEWS[view](results)
