"""Benchmark output: the results table (Markdown), JSON, CSV and a PNG plot."""

import csv
import json
import os

from keras_sam_bench import statistics
from keras_sam_bench.summary import final_training_accuracy, mean_curve

# (CSV/JSON key, table header, format of one value)
COLUMNS = (
    ("method", "method", "{}"),
    ("params", "tuned", "{}"),
    ("accuracy_mean", "test acc % (mean ± std)", None),
    ("vs_erm", "Δ vs ERM [95 % CI]", None),
    ("vs_sam", "Δ vs SAM [95 % CI]", None),
    ("wall_time_s", "wall time s/run", "{:.1f}"),
    ("step_time_ratio", "step time × ERM", "{:.2f}"),
    ("sam_fraction", "sam_fraction", "{:.2f}"),
    ("sharpness", "sharpness", "{:.4f}"),
    ("hessian_top_eigenvalue", "λ_max (Hessian)", "{:.2f}"),
)
CSV_FIELDS = (
    "method", "label", "seeds", "params", "accuracy_mean", "accuracy_std", "delta_vs_erm",
    "vs_erm_low", "vs_erm_high", "vs_sam_mean", "vs_sam_low", "vs_sam_high",
    "wall_time_s", "step_time_ms", "step_time_ratio", "sam_fraction",
    "perturbation_norm", "sharpness", "hessian_top_eigenvalue",
)


def _cell(row, key, fmt):
    if key == "accuracy_mean":
        return f"{row['accuracy_mean']:.2f} ± {row['accuracy_std']:.2f}"
    if key in ("vs_erm", "vs_sam"):
        baseline = {"vs_erm": "erm", "vs_sam": "sam"}[key]
        if row["method"] == baseline or row.get(key) is None:
            return "–"
        return statistics.format_interval(row[key])
    value = row.get(key)
    if value is None or value == "":
        return "–"
    return fmt.format(value)


FAR_BELOW = 5.0  # test accuracy points below ERM that get a marked row
MARK = "‡"


def far_below_notes(results):
    """`{method: reason}` for every method whose mean test accuracy is at
    least `FAR_BELOW` points below ERM's, the reason read from the runs:
    whether it fits the training labels as ERM does or underfits them."""
    runs, notes = results["runs"], {}
    erm = final_training_accuracy(runs, "erm")
    for row in results["summary"][1:]:
        if row["delta_vs_erm"] > -FAR_BELOW:
            continue
        mine = final_training_accuracy(runs, row["method"])
        setting = f"at {row['params']}" if row.get("params") else "at its defaults"
        fit = (f"underfits {setting}: final training accuracy {mine:.1f} % against "
               f"ERM's {erm:.1f} %" if mine < erm - FAR_BELOW else
               f"fits the training labels about as ERM does {setting} (final training "
               f"accuracy {mine:.1f} % against ERM's {erm:.1f} %, within {FAR_BELOW:g} "
               "points) but generalizes worse")
        notes[row["method"]] = (f"{row['label']} ({row['delta_vs_erm']:+.1f} points): {fit}")
    return notes


def format_results(results):
    """A results dict's table: `format_table` with its `far_below_notes`."""
    return format_table(results["summary"], far_below_notes(results))


def format_table(summary, notes=None):
    """The summary rows as a Markdown table (one row per method), each row
    of `notes` (`far_below_notes`) marked and its reason listed below.

    The "tuned" column appears only when `--tune` chose hyperparameters.
    """
    notes = notes or {}
    columns = [c for c in COLUMNS if c[0] != "params" or any(r.get("params") for r in summary)]
    headers = [header for _, header, _ in columns]
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|",
    ]
    for row in summary:
        label = row["label"] + (f" {MARK}" if row["method"] in notes else "")
        cells = [label] + [_cell(row, key, fmt) for key, _, fmt in columns[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    if notes:
        lines += ["", f"{MARK} {FAR_BELOW:g} or more test accuracy points below ERM "
                  "(mean over seeds); why, read from the runs' training accuracy:", ""]
        lines += [f"- {reason}" for reason in notes.values()]
    return "\n".join(lines)


def write_json(results, path):
    """Writes the whole results dict (config, summary, every run) as JSON."""
    with open(path, "w") as f:
        json.dump(results, f, indent=2, sort_keys=False)
        f.write("\n")


def write_csv(summary, path):
    """Writes one CSV row per method with the summary columns."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in summary:
            flat = dict(row)
            for key in ("vs_erm", "vs_sam"):
                interval = row.get(key) or {}
                for part in ("mean", "low", "high"):
                    flat[f"{key}_{part}"] = interval.get(part)
            writer.writerow({key: flat.get(key) for key in CSV_FIELDS})


MARKERS = ("o", "s", "^", "D", "v", "P", "X")
LINESTYLES = ("-", "--", "-.", ":")


def method_styles(count):
    """`(color, marker, linestyle)` for each of `count` methods, no two alike.

    Colours from matplotlib's 20-colour `tab20` (then cycled), each paired
    with its own marker and line style, so that ERM and the 12 variants (and
    more) are told apart in colour and in shape.
    """
    from matplotlib import pyplot as plt

    colors = plt.get_cmap("tab20")
    return [
        (colors(i % 20), MARKERS[i % len(MARKERS)], LINESTYLES[(i // len(MARKERS)) % len(LINESTYLES)])
        for i in range(count)
    ]


def plot(results, path):
    """Saves a PNG: accuracy vs step-time cost, and mean training curves.

    Left: test accuracy (mean ± std over seeds) against step time relative to
    ERM, one labelled point per method. Middle and right: test accuracy and
    training loss per epoch, averaged over seeds.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    summary = results["summary"]
    figure, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    cost_axis, accuracy_axis, loss_axis = axes
    styles = method_styles(len(summary))
    for row, (color, marker, linestyle) in zip(summary, styles):
        cost_axis.errorbar(
            row["step_time_ratio"], row["accuracy_mean"], yerr=row["accuracy_std"],
            fmt=marker, color=color, capsize=3,
        )
        cost_axis.annotate(
            row["label"], (row["step_time_ratio"], row["accuracy_mean"]),
            textcoords="offset points", xytext=(5, 4), fontsize=8,
        )
        runs = [r for r in results["runs"] if r["method"] == row["method"]]
        for axis, key, scale in (
            (accuracy_axis, "test_accuracy", 100.0), (loss_axis, "loss", 1.0),
        ):
            epochs, curve = mean_curve(runs, key)
            if curve:
                axis.plot(
                    epochs, [v * scale for v in curve], label=row["label"],
                    color=color, linestyle=linestyle, marker=marker,
                    markersize=4, markevery=max(1, len(epochs) // 10),
                )
    config = results["config"]
    cost_axis.set(
        xlabel="step time relative to ERM", ylabel="test accuracy (%)",
        title="accuracy vs cost",
    )
    accuracy_axis.set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy")
    loss_axis.set(xlabel="epoch", ylabel="training loss", title="training loss (clean pass)")
    accuracy_axis.legend(fontsize=8)
    for axis in (accuracy_axis, loss_axis):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    for axis in axes:
        axis.grid(alpha=0.3)
    figure.suptitle(
        f"{config['dataset']} · {config['model']} · label noise {config['label_noise']}"
        f" · seeds {', '.join(map(str, config['seeds']))} · {config['epochs']} epochs"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_all(results, output):
    """Writes results.json, results.csv, results.png and table.md to `output`.

    Returns the dict `{kind: path}` of the files written.
    """
    os.makedirs(output, exist_ok=True)
    paths = {
        "json": os.path.join(output, "results.json"),
        "csv": os.path.join(output, "results.csv"),
        "png": os.path.join(output, "results.png"),
        "table": os.path.join(output, "table.md"),
    }
    write_json(results, paths["json"])
    write_csv(results["summary"], paths["csv"])
    plot(results, paths["png"])
    with open(paths["table"], "w") as f:
        f.write(format_results(results) + "\n")
    return paths
