"""Predictions, targets and the markdown table of `step_time.py`'s results.

A result row is a dict with `model`, `jit`, `method`, `median_ms`,
`ratios_erm` (per round, the method's time over ERM's in the same round) and
their median `ratio_erm`, `ratio_floor` (the same against the hand-written
floor), `sam_fractions` (per round) and their mean `sam_fraction`, `passes`
(predicted passes per step, None when unknown), `predicted_ratio`,
`peak_mb` and `peak_delta_mb`, and `model_label`, the model's name in the
docs. The Markdown (`markdown`) is keras_sam_bench.render_step_time's, which
also renders the committed results files into the docs.
"""

import statistics

from keras_sam_bench.render_step_time import ERM, FLOOR, LABELS, markdown  # noqa: F401


def predicted_passes(method, variant, sam_fraction):
    """Forward+backward passes per step the method's algorithm needs.

    ERM and MSAM 1; SAM, ASAM, WSAM, GSAM, Friendly-SAM and the floor 2;
    GAM 4; GA-SAM 1 + K ascent steps; LookSAM 1 + 1/k; AE-SAM and
    AE-LookSAM 1 + the logged `sam_fraction`; ESAM 1 + 1/3 + gamma (a
    forward pass counted as a third of a pass, the backward pass costing
    about twice the forward, plus a pass on a `gamma` share of the batch).
    A variant unknown to this table gets None.
    """
    if method == ERM:
        return 1.0
    if method == FLOOR:
        return 2.0
    fixed = {"sam": 2.0, "asam": 2.0, "wsam": 2.0, "gam": 4.0, "gsam": 2.0,
             "friendly_sam": 2.0, "msam": 1.0}
    if method in fixed:
        return fixed[method]
    if method == "ga_sam":
        return 1.0 + variant.num_ascent_steps
    if method == "look_sam":
        return 1.0 + 1.0 / variant.k
    if method == "esam":
        return 1.0 + 1.0 / 3.0 + variant.gamma
    if method in ("ae_sam", "ae_look_sam") and sam_fraction is not None:
        return 1.0 + sam_fraction
    return None


def calibrated_ratio(passes, floor_ratio):
    """The ratio to ERM predicted from the pass count and the floor.

    Model a step as `overhead + passes * pass_time`; ERM (1 pass) and the
    floor (2 passes) fix both terms, so `n` passes cost
    `1 + (n - 1) * (floor/ERM - 1)` times ERM.
    """
    if passes is None or floor_ratio is None:
        return None
    return 1.0 + (passes - 1.0) * (floor_ratio - 1.0)


def targets(rows):
    """keras_sam's step-time goals, checked for every model and jit setting run."""
    checks = []
    groups = {}
    for row in rows:
        groups.setdefault((row["model"], row["jit"]), {})[row["method"]] = row
    for (model, jit), by_method in groups.items():
        label = next(iter(by_method.values())).get("model_label") or model
        where = f"{label}, jit {'on' if jit else 'off'}"
        sam = by_method.get("sam")
        if sam and model == "cnn" and not jit:
            checks.append(_check("SAM/ERM <= 2.0", where,
                                 sam["ratio_erm"], 2.0))
        if sam and sam.get("ratio_floor") is not None:
            checks.append(_check("SAMModel SAM / floor <= 1.03", where,
                                 sam["ratio_floor"], 1.03))
        look = by_method.get("look_sam")
        if look and look.get("k") == 5:
            checks.append(_check("LookSAM(k=5)/ERM <= 1.25", where,
                                 look["ratio_erm"], 1.25))
        ae = by_method.get("ae_sam")
        if ae and ae.get("sam_fractions"):
            # Per round: the share of SAM steps moves with AE-SAM's schedule.
            excess = statistics.median(
                r - (1.0 + f) for r, f in zip(ae["ratios_erm"], ae["sam_fractions"])
            )
            checks.append(_check("AE-SAM/ERM - (1 + sam_fraction) <= 0.05",
                                 where, excess, 0.05))
    return checks


def _check(name, where, value, limit):
    return {"target": name, "where": where, "value": round(value, 3),
            "limit": round(limit, 3), "pass": bool(value <= limit)}
