"""`--suite claims`: each seed paper's claim, measured, with a computed verdict.

Each claim compares one method with a baseline (ERM or SAM) on a task that
matches the paper's regime, using the per-seed paired difference of test
accuracy and its 95 % interval (`statistics.paired_difference`):

- "better": reproduced when the interval lies above 0, not reproduced when
  it lies below 0, inconclusive when it includes 0;
- "worse": the mirror image (a claim that a method hurts);
- "about as good": reproduced when the interval lies above `-MARGIN`
  (non-inferiority), not reproduced when it lies below `-MARGIN`,
  inconclusive otherwise;

and a claim about cost must also hold, else it is not reproduced: for
`sam_fraction` (the share of steps that took a perturbed pass, counted in
the step) or for the mean step time relative to another method of the same
run (measured side by side).
The verdicts are computed here from the results files; nothing is written
by hand.
"""

import dataclasses

from keras_sam_bench import statistics
from keras_sam_bench.summary import method_label

MARGIN = 1.0  # accuracy points a method may lose and still be "about as good"


@dataclasses.dataclass(frozen=True)
class Task:
    """One benchmark run of the suite (the paper regime it stands for)."""

    name: str
    description: str
    config: dict  # BenchmarkConfig fields
    epochs_fraction: float = 1.0  # of --epochs
    max_samples: int = None  # caps --num-samples (train + test)

    def resolve(self, epochs, num_samples):
        """`(epochs, num_samples)` of this task for the suite's arguments."""
        epochs = max(1, round(self.epochs_fraction * epochs))
        if self.max_samples is not None:
            num_samples = min(num_samples or self.max_samples, self.max_samples)
        return epochs, num_samples


@dataclasses.dataclass(frozen=True)
class Claim:
    paper: str
    claim: str
    regime: str
    task: str
    method: str
    baseline: str
    kind: str  # "better", "worse" or "about as good"
    max_sam_fraction: float = None  # the cost part of the claim, if any
    cost: str = ""
    # Or a cost in step time: (method, limit) for "step time <= limit x that
    # method's", both measured in the same run.
    max_step_time: tuple = None


TASKS = (
    Task("cnn", "MNIST-1D, 1-D CNN, SGD + momentum 0.9, lr 0.05 cosine, "
         "30 % label noise (the SAM papers' CNN protocol)",
         {"model": "cnn", "optimizer": "sgd", "learning_rate": 0.05,
          "schedule": "cosine", "label_noise": 0.3,
          "variants": ["sam", "wsam", "gam", "ae_sam", "ae_look_sam", "look_sam"]}),
    # A GRU steps through the 40 time steps one by one: on 2 CPU cores it
    # costs about 10 times the CNN per epoch, hence half the epochs and
    # 4 000 samples (3 200 train / 800 test).
    Task("gru", "MNIST-1D read step by step by a GRU, Adam 3e-3 cosine, no "
         "label noise, half the epochs, 4 000 samples (a recurrent model, "
         "GA-SAM's regime)",
         {"model": "gru", "optimizer": "adam", "learning_rate": 3e-3,
          "schedule": "cosine", "label_noise": 0.0, "variants": ["sam", "ga_sam"]},
         epochs_fraction=0.5, max_samples=4000),
    # The variants beyond the seed papers, on the cnn task's protocol. ERM
    # and SAM run again beside them, so that their step times (ESAM's and
    # MSAM's claims are about cost) are measured side by side.
    Task("cnn_beyond", "the cnn task for GSAM, Friendly-SAM, ESAM and MSAM, with "
         "ERM and SAM trained again in the same run (side-by-side step times)",
         {"model": "cnn", "optimizer": "sgd", "learning_rate": 0.05,
          "schedule": "cosine", "label_noise": 0.3,
          "variants": ["sam", "gsam", "friendly_sam", "esam", "msam"]}),
)

CLAIMS = (
    Claim("SAM (Foret et al., ICLR 2021)", "better generalization than ERM, "
          "large with noisy labels", "SGD + momentum, CNN, label noise",
          "cnn", "sam", "erm", "better"),
    Claim("GA-SAM (Zhang et al., EMNLP 2022)", "SAM fails on models with drastic "
          "gradient changes such as RNNs", "RNN / sequence task",
          "gru", "sam", "erm", "worse"),
    Claim("GA-SAM (Zhang et al., EMNLP 2022)", "helps where SAM fails", "RNN / sequence task",
          "gru", "ga_sam", "sam", "better"),
    Claim("WSAM (Yue et al., KDD 2023)", "at least as good as SAM", "as SAM",
          "cnn", "wsam", "sam", "about as good"),
    Claim("GAM (Zhang et al., CVPR 2023)", "better than the base optimizer",
          "SGD, CNN", "cnn", "gam", "erm", "better"),
    Claim("GAM (Zhang et al., CVPR 2023)", "GAM + SAM better than SAM (keras_sam's "
          "GAM is the released code's form, which includes the SAM gradient)",
          "SGD, CNN", "cnn", "gam", "sam", "better"),
    Claim("AE-SAM (Jiang et al., ICLR 2023)", "about SAM's accuracy at about half "
          "the SAM steps", "as SAM", "cnn", "ae_sam", "sam", "about as good",
          max_sam_fraction=0.6, cost="sam_fraction <= 0.6"),
    Claim("AE-LookSAM (Jiang et al., ICLR 2023)", "about SAM's accuracy at much "
          "lower cost", "as SAM", "cnn", "ae_look_sam", "sam", "about as good",
          max_sam_fraction=0.6, cost="sam_fraction <= 0.6"),
    Claim("LookSAM (Liu et al., CVPR 2022)", "about SAM's accuracy at 1 + 1/k "
          "passes per step", "as SAM", "cnn", "look_sam", "sam", "about as good",
          max_sam_fraction=0.2 + 1e-6, cost="sam_fraction <= 1/k = 0.2"),
    Claim("GSAM (Zhuang et al., ICLR 2022)", "better generalization than SAM",
          "as SAM", "cnn_beyond", "gsam", "sam", "better"),
    Claim("Friendly-SAM (Li et al., CVPR 2024)", "better generalization than SAM",
          "as SAM", "cnn_beyond", "friendly_sam", "sam", "better"),
    Claim("ESAM (Du et al., ICLR 2022)", "about SAM's accuracy at a lower cost",
          "as SAM", "cnn_beyond", "esam", "sam", "about as good",
          max_step_time=("sam", 1.0), cost="step time < SAM's"),
    Claim("MSAM (Becker et al., 2024)", "about SAM's accuracy at ERM's cost",
          "SGD + momentum", "cnn_beyond", "msam", "sam", "about as good",
          max_step_time=("erm", 1.05), cost="step time <= 1.05 ERM's"),
)


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


def evaluate(claim, results):
    """One row of the claims table from the task's results dict."""
    runs = results["runs"]
    interval = statistics.paired_difference(runs, claim.method, claim.baseline)
    verdict = accuracy_verdict(claim.kind, interval)
    fraction = _mean(runs, claim.method, "sam_fraction")
    cost_holds, time_ratio = None, None
    if claim.max_sam_fraction is not None and fraction is not None:
        cost_holds = fraction <= claim.max_sam_fraction
    if claim.max_step_time is not None:
        other, limit = claim.max_step_time
        time_ratio = (_mean(runs, claim.method, "step_time_ms")
                      / _mean(runs, other, "step_time_ms"))
        # "lower" (limit 1.0) is strict; a stated bound is inclusive.
        cost_holds = time_ratio < limit if limit == 1.0 else time_ratio <= limit
    if cost_holds is False:
        verdict = "not reproduced"
    chosen = results.get("tuning", {}).get(claim.method, {}).get("chosen", {})
    return {
        **dataclasses.asdict(claim),
        "difference": interval,
        "sam_fraction": fraction,
        "cost_holds": cost_holds,
        "step_time_ratio": time_ratio,
        "chosen": chosen,
        "verdict": verdict,
    }


def evaluate_all(results_by_task):
    """Rows for every claim whose task was run (`{task name: results}`)."""
    return [evaluate(c, results_by_task[c.task]) for c in CLAIMS if c.task in results_by_task]


def format_table(rows):
    """The claims table (Markdown)."""
    lines = [
        "| paper | claim | measured here | Δ test acc, points [95 % CI] | cost | verdict |",
        "|---|---|---|---:|---|---|",
    ]
    for row in rows:
        measured = f"{method_label(row['method'])} − {method_label(row['baseline'])} ({row['task']})"
        if row["chosen"]:
            params = ", ".join(f"{k}={v:g}" for k, v in sorted(row["chosen"].items()))
            measured += f"; {params}"
        cost = "–"
        if row.get("step_time_ratio") is not None:
            other = method_label(row["max_step_time"][0])
            cost = f"step time / {other}'s: {row['step_time_ratio']:.2f}"
        elif row["sam_fraction"] is not None and row["method"] != "sam":
            cost = f"sam_fraction {row['sam_fraction']:.2f}"
        if row["cost"] and cost != "–":
            cost += f" ({row['cost']}: {'yes' if row['cost_holds'] else 'no'})"
        lines.append(
            f"| {row['paper']} | {row['claim']} | {measured} | "
            f"{statistics.format_interval(row['difference'])} | {cost} | **{row['verdict']}** |"
        )
    return "\n".join(lines)
