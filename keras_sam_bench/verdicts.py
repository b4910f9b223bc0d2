"""The claims table: each claim's verdict, computed from the results files.

A claim is tested only where its task reached its regime (`regimes.py`);
else its verdict is "not tested", with the failed check named. In the
regime, the per-seed paired difference of test accuracy and its 95 %
interval (`statistics.paired_difference`) decide:

- "better": reproduced when the interval lies above 0, not reproduced when
  it lies below 0, inconclusive when it includes 0;
- "worse": the mirror image (a claim that a method hurts);
- "about as good": reproduced when the interval lies above `-MARGIN`
  (non-inferiority), not reproduced when it lies below `-MARGIN`,
  inconclusive otherwise;

and a claim about cost must also hold, else it is not reproduced: for
`sam_fraction` (the share of steps that took a perturbed pass, counted in
the step) or for the step time relative to another method, from the
interleaved measurement of `costs.py` on a compute-bound model. A step-time
ratio is the median over rounds with its distribution-free 95 % interval
(`statistics.median_interval`): the cost holds when the whole interval
keeps within the claim's bound, fails when none of it does, and is
undecided otherwise, which makes a claim whose accuracy reproduced
inconclusive.
"""

import dataclasses

from keras_sam_bench import claims as claims_lib
from keras_sam_bench import costs, regimes, statistics
from keras_sam_bench.summary import method_label

MARGIN = claims_lib.MARGIN


def accuracy_verdict(kind, interval):
    """The verdict of a paired difference for a claim of `kind`."""
    if interval is None or interval["low"] is None:
        return "inconclusive"
    low, high = interval["low"], interval["high"]
    if kind == "better":
        return "reproduced" if low > 0 else "not reproduced" if high < 0 else "inconclusive"
    if kind == "worse":
        return "reproduced" if high < 0 else "not reproduced" if low > 0 else "inconclusive"
    if kind == "about as good":
        if low > -MARGIN:
            return "reproduced"
        return "not reproduced" if high < -MARGIN else "inconclusive"
    raise ValueError(f"unknown claim kind {kind!r}")


def _mean(runs, method, field):
    """The mean of `field` over `method`'s runs, or None without runs."""
    mine = [r[field] for r in runs if r["method"] == method]
    return sum(mine) / len(mine) if mine else None


def cost_verdict(interval, limit):
    """Whether a step-time ratio's 95 % interval (`statistics.median_interval`)
    keeps below `limit`: True when all of it does, False when none of it
    does, None (undecided) when it straddles the limit or is unknown.
    "Lower" (limit 1.0) is strict; a stated bound is inclusive."""
    low, high = interval["low"], interval["high"]
    if low is None:
        return None
    strict = limit == 1.0
    if high < limit or (high == limit and not strict):
        return True
    if low > limit or (low == limit and strict):
        return False
    return None


def _step_time(claim, measurement):
    """`(ratio interval, small-model ratio, regime check or None, holds)` of
    a step-time claim from the interleaved measurement."""
    other, limit = claim.max_step_time
    within = costs.ratios(measurement, costs.COMPUTE_BOUND, claim.method, other)
    small = costs.ratio(measurement, costs.SMALL, claim.method, other)
    if within is None:
        return None, small, None, None
    check = regimes.compute_bound(costs.erm_ms(measurement))
    interval = statistics.median_interval(within)
    return interval, small, check, cost_verdict(interval, limit)


def evaluate(claim, results, checks=(), cost=None):
    """One row of the claims table.

    `results` is the task's results dict, `checks` its regime checks
    (`regimes.check`) and `cost` the interleaved step-time measurement
    (`costs.load`) or None.
    """
    runs = results["runs"]
    interval = statistics.paired_difference(runs, claim.method, claim.baseline)
    checks = list(checks)
    verdict = accuracy_verdict(claim.kind, interval)
    fraction = _mean(runs, claim.method, "sam_fraction")
    cost_holds, step_time, small = None, None, None
    if claim.max_sam_fraction is not None and fraction is not None:
        cost_holds = fraction <= claim.max_sam_fraction
    untested = regimes.failed(checks)
    if claim.max_step_time is not None:
        step_time, small, check, cost_holds = _step_time(claim, cost)
        if cost_holds is None and step_time is not None and verdict == "reproduced":
            verdict = "inconclusive"  # the accuracy holds; the cost is undecided
        if check is None:
            untested = untested or (f"no interleaved step-time measurement "
                                    f"({costs.FILENAME}, see costs.py)")
        else:
            checks.append(check)
            untested = untested or regimes.failed([check])
    if cost_holds is False:
        verdict = "not reproduced"
    if untested:
        verdict = "not tested"
    tuned = results.get("tuning", {}).get(claim.method, {})
    width = (None if interval is None or interval["low"] is None
             else interval["high"] - interval["low"])
    return {
        **dataclasses.asdict(claim),
        "difference": interval,
        "interval_width": width,
        "sam_fraction": fraction,
        "cost_holds": cost_holds,
        "step_time_ratio": None if step_time is None else step_time["median"],
        "step_time_interval": step_time,
        "small_model_step_time_ratio": small,
        "chosen": tuned.get("chosen", {}),
        "at_bound": tuned.get("at_bound", []),
        "regime": checks,
        "not_tested": untested,
        "verdict": verdict,
    }


PENDING = "its task has not run yet (continue the suite with --resume)"


def evaluate_all(results_by_task, cost=None, pending=()):
    """Rows for every claim whose task was run (`{task name: results}`),
    and a "not tested" row for each claim of a task in `pending`."""
    tasks = {t.name: t for t in claims_lib.TASKS}
    rows = []
    for claim in claims_lib.CLAIMS:
        if claim.task in results_by_task:
            results = results_by_task[claim.task]
            checks = regimes.check(tasks[claim.task], results) if claim.task in tasks else ()
            rows.append(evaluate(claim, results, checks, cost))
        elif claim.task in pending:
            # A row with nothing measured yet.
            rows.append({**evaluate(claim, {"runs": []}), "not_tested": PENDING,
                         "verdict": "not tested"})
    return rows


def _cost_cell(row):
    if row["max_step_time"] is not None:
        other = method_label(row["max_step_time"][0])
        if row["step_time_ratio"] is None:
            return "not measured"
        interval = row["step_time_interval"]
        cell = f"step time / {other}'s: {row['step_time_ratio']:.2f}"
        if interval["low"] is not None:
            cell += f" [{interval['low']:.2f}, {interval['high']:.2f}]"
        holds = {True: "yes", False: "no", None: "undecided"}[row["cost_holds"]]
        cell += f" ({row['cost']}: {holds})"
        if row["small_model_step_time_ratio"] is not None:
            cell += f"; small model {row['small_model_step_time_ratio']:.2f}"
        return cell
    if row["sam_fraction"] is None or row["method"] == "sam":
        return "–"
    cell = f"sam_fraction {row['sam_fraction']:.2f}"
    if row["cost"]:
        cell += f" ({row['cost']}: {'yes' if row['cost_holds'] else 'no'})"
    return cell


def _measured_cell(row):
    cell = f"{method_label(row['method'])} − {method_label(row['baseline'])} ({row['task']})"
    if row["chosen"]:
        cell += "; " + ", ".join(
            f"{k}={v:g}" + (" (at bound)" if k in row.get("at_bound", ()) else "")
            for k, v in sorted(row["chosen"].items()))
    return cell


def format_table(rows):
    """The claims table (Markdown)."""
    lines = [
        "| paper | claim | measured here | Δ test acc, points [95 % CI] | CI width "
        "| cost | verdict |",
        "|---|---|---|---:|---:|---|---|",
    ]
    for row in rows:
        width = row.get("interval_width")
        verdict = f"**{row['verdict']}**"
        if row.get("not_tested"):
            verdict += f": {row['not_tested']}"
        lines.append(
            f"| {row['paper']} | {row['claim']} | {_measured_cell(row)} | "
            f"{statistics.format_interval(row['difference'])} | "
            f"{'–' if width is None else f'{width:.2f}'} | {_cost_cell(row)} | {verdict} |"
        )
    return "\n".join(lines)


def regime_rows(results_by_task, cost=None):
    """Every regime check of every task run, the noisy task's power and the
    cost model's check: dicts with `task`, `what`, `measured`, `needed`,
    `passed`."""
    tasks = {t.name: t for t in claims_lib.TASKS}
    rows = []
    for name, results in results_by_task.items():
        if name not in tasks:
            continue
        rows += [{"task": name, **c} for c in regimes.check(tasks[name], results)]
        if tasks[name].power:
            method, baseline = tasks[name].power
            interval = statistics.paired_difference(results["runs"], method, baseline)
            if interval is not None and interval["low"] is not None:
                width = interval["high"] - interval["low"]
                rows.append({
                    "task": name, "name": "power",
                    "what": f"power: {method_label(method)} − {method_label(baseline)}'s "
                            f"95 % interval width, points ({interval['n']} seeds)",
                    "measured": round(width, 2),
                    "needed": f"<= {claims_lib.POWER_WIDTH:g}",
                    "passed": width <= claims_lib.POWER_WIDTH})
    erm = costs.erm_ms(cost)
    if erm is not None:
        rows.append({"task": f"cost ({costs.COMPUTE_BOUND})", **regimes.compute_bound(erm)})
    return rows


def format_regimes(rows):
    """The regime checks (`regime_rows`) as a Markdown table."""
    lines = ["| task | check | measured | needed | reached |", "|---|---|---:|---|---|"]
    for c in rows:
        lines.append(f"| {c['task']} | {c['what']} | {c['measured']:g} | {c['needed']} | "
                     f"{'yes' if c['passed'] else '**no**'} |")
    return "\n".join(lines)


def format_document(report):
    """claims.md from claims.json's dict: the claims table, then the regime
    checks every verdict rests on."""
    return (format_table(report["claims"]) + "\n\nRegime checks (a claim whose "
            "task fails one is not tested):\n\n" + format_regimes(report["regimes"]))
