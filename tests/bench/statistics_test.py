"""Paired differences and their 95 % intervals, against SciPy's t distribution."""

import math

import numpy as np
import pytest

from keras_sam_bench import statistics

stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("df", [1, 2, 3, 5, 10, 29, 30])
def test_t_quantiles_match_scipy(df):
    assert statistics.t_quantile_975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=6e-4)


@pytest.mark.parametrize("df", [31, 45, 60, 200])
def test_t_quantiles_beyond_the_table_match_scipy(df):
    assert statistics.t_quantile_975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-4)


def test_mean_interval_is_students_t_interval():
    values = [1.0, 2.5, 0.5, 3.0]
    low, high = stats.t.interval(0.95, 3, loc=np.mean(values), scale=stats.sem(values))
    summary = statistics.mean_interval(values)
    assert summary["mean"] == pytest.approx(1.75)
    assert (summary["low"], summary["high"]) == pytest.approx((low, high), abs=1e-3)
    assert statistics.mean_interval([2.0]) == {"mean": 2.0, "low": None, "high": None, "n": 1}


def test_paired_difference_pairs_by_seed():
    runs = [
        {"method": "erm", "seed": 0, "test_accuracy": 80.0},
        {"method": "sam", "seed": 1, "test_accuracy": 85.0},
        {"method": "erm", "seed": 1, "test_accuracy": 84.0},
        {"method": "sam", "seed": 0, "test_accuracy": 83.0},
        {"method": "sam", "seed": 2, "test_accuracy": 99.0},  # no ERM partner
    ]
    result = statistics.paired_difference(runs, "sam", "erm")
    assert result["differences"] == [3.0, 1.0] and result["mean"] == 2.0
    half = 12.706 * math.sqrt(2.0) / math.sqrt(2)
    assert result["low"] == pytest.approx(2.0 - half)
    assert statistics.paired_difference(runs, "gam", "erm") is None
    assert statistics.format_interval(result) == f"+2.00 [{2 - half:+.2f}, {2 + half:+.2f}]"


@pytest.mark.parametrize("n", [6, 7, 10, 21, 40])
def test_median_interval_takes_the_order_statistics_scipys_binomial_gives(n):
    values = np.random.default_rng(n).permutation(np.arange(n, dtype=float) * 1.5)
    # Independently: the largest k with P(Binomial(n, 1/2) <= k - 1) <= 2.5 %.
    k = max(j for j in range(1, n) if stats.binom.cdf(j - 1, n, 0.5) <= 0.025)
    summary = statistics.median_interval(values)
    ordered = np.sort(values)
    assert summary["median"] == pytest.approx(np.median(values))
    assert (summary["low"], summary["high"]) == (ordered[k - 1], ordered[n - k])
    coverage = stats.binom.cdf(n - k, n, 0.5) - stats.binom.cdf(k - 1, n, 0.5)
    assert coverage >= 0.95


def test_median_interval_needs_six_values():
    assert statistics.median_interval([1.0, 2.0, 3.0, 4.0, 5.0])["low"] is None
    assert statistics.median_interval([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])["low"] == 1.0
