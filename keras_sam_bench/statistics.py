"""Paired differences between methods over seeds, with 95 % intervals.

Every method of a benchmark run trains on the same seeds, and a seed fixes
the label noise, the initial weights and the batch order for all of them,
so method A and method B are compared seed by seed: the difference
`A(seed) - B(seed)` removes what the seed does to both. The interval is
Student's t interval of the mean difference (two-sided, n - 1 degrees of
freedom), which needs at least two seeds.
"""

import math

import numpy as np

# Two-sided 95 % quantiles t(0.975; df) of Student's t distribution for
# df = 1..30 (standard tables); above 30 the Cornish-Fisher expansion around
# the normal quantile is exact to 1e-4.
_T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)


def t_quantile_975(df):
    """t(0.975; df), the multiplier of a two-sided 95 % interval."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T_975):
        return _T_975[df - 1]
    z = 1.959964
    return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3))


def mean_interval(values):
    """`{"mean", "low", "high", "n"}`: the mean and its 95 % t interval.

    With one value the interval is unknown (`low`/`high` are None).
    """
    values = np.asarray(values, np.float64)
    n = len(values)
    if n == 0:
        raise ValueError("no values to summarize")
    mean = float(values.mean())
    if n < 2:
        return {"mean": mean, "low": None, "high": None, "n": n}
    half = t_quantile_975(n - 1) * float(values.std(ddof=1)) / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n}


def median_interval(values):
    """`{"median", "low", "high", "n"}`: the median and its distribution-free
    95 % interval, between the k-th smallest and the k-th largest value,
    with k the largest order whose interval covers the median with
    probability >= 95 % (binomial(n, 1/2) tails of at most 2.5 % each).

    Below 6 values no such order exists: `low`/`high` are None.
    """
    ordered = sorted(float(v) for v in values)
    n = len(ordered)
    if n == 0:
        raise ValueError("no values to summarize")
    median = float(np.median(ordered))
    k, tail = 0, 0.0  # at the test: tail = P(binomial(n, 1/2) <= k)
    while True:
        tail += math.comb(n, k) / 2**n
        if tail > 0.025:
            break
        k += 1
    if k == 0:
        return {"median": median, "low": None, "high": None, "n": n}
    return {"median": median, "low": ordered[k - 1], "high": ordered[n - k], "n": n}


def paired_difference(runs, method, baseline, key="test_accuracy"):
    """`method - baseline` per shared seed, summarized by `mean_interval`.

    `runs` are per-(method, seed) records with "method", "seed" and `key`.
    Returns None when the two share no seed. The result also lists the
    per-seed differences under "differences" (seed order).
    """
    by_seed = {}
    for run in runs:
        if run["method"] in (method, baseline):
            by_seed.setdefault(run["seed"], {})[run["method"]] = run[key]
    differences = [
        pair[method] - pair[baseline]
        for _, pair in sorted(by_seed.items())
        if method in pair and baseline in pair
    ]
    if not differences:
        return None
    return {**mean_interval(differences), "differences": differences}


def format_interval(summary, digits=2):
    """`+1.23 [+0.40, +2.06]`, or `+1.23 (1 seed)` without an interval."""
    if summary is None:
        return "n/a"
    mean = f"{summary['mean']:+.{digits}f}"
    if summary["low"] is None:
        return f"{mean} ({summary['n']} seed)"
    return f"{mean} [{summary['low']:+.{digits}f}, {summary['high']:+.{digits}f}]"
