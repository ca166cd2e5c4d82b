"""harness/stats.py: known answers, no I/O."""
import math
import random

import pytest

import synthetic
from harness import stats


def test_median_of_odd_and_even_counts():
    assert stats.median([3, 1, 2]) == 2
    assert stats.median([4, 1, 3, 2]) == 2.5
    with pytest.raises(ValueError):
        stats.median([])


def test_coefficient_of_variation_is_sample_stdev_over_mean():
    # sample stdev of this classic set is sqrt(32/7), its mean 5
    assert stats.coefficient_of_variation([2, 4, 4, 4, 5, 5, 7, 9]) == pytest.approx((32 / 7) ** 0.5 / 5)
    assert stats.coefficient_of_variation([7.0]) == 0.0
    assert stats.coefficient_of_variation([]) == 0.0
    assert stats.coefficient_of_variation([3, 3, 3]) == 0.0


# Three shapes a repetition's figure takes: symmetric noise, a right skew (a
# noisy neighbour only slows things down), and a heavy right skew.
MEDIAN_CI_DISTRIBUTIONS = {
    "normal": (lambda rng: rng.gauss(100, 5), 100.0),
    "lognormal": (lambda rng: math.exp(rng.gauss(0, 0.5)), 1.0),
    "exponential": (lambda rng: rng.expovariate(1.0), math.log(2)),
}


@pytest.mark.parametrize("n", [3, 5])
def test_median_ci_declines_when_no_95_percent_interval_exists(n):
    # even [min, max] of 5 values covers the median with only 1 - 2/32 = 93.75%
    assert stats.median_ci([float(v) for v in range(n)]) is None
    assert stats.min_reps_for_interval() == 6


@pytest.mark.parametrize("name", sorted(MEDIAN_CI_DISTRIBUTIONS))
@pytest.mark.parametrize("n", [6, 10, 20])
def test_median_ci_covers_the_true_median_95_percent_of_the_time(name, n):
    draw, true_median = MEDIAN_CI_DISTRIBUTIONS[name]
    rng = random.Random(f"{name}-{n}")
    trials = 2000
    covered = 0
    for _ in range(trials):
        low, high = stats.median_ci([draw(rng) for _ in range(n)])
        covered += low <= true_median <= high
    assert 0.93 <= covered / trials <= 0.97


def test_median_ci_brackets_the_sample_median_and_stays_inside_the_range():
    values = [9.0, 14.0, 10.0, 11.0, 12.5, 30.0, 10.5, 11.5]
    low, high = stats.median_ci(values)
    assert min(values) <= low <= stats.median(values) <= high <= max(values)
    assert stats.median_ci([5.0] * 8) == (5.0, 5.0)


def test_median_ci_rejects_bad_arguments():
    with pytest.raises(ValueError):
        stats.median_ci([])
    with pytest.raises(ValueError):
        stats.median_ci([1.0] * 6, confidence=1.0)


def test_bootstrap_ratio_of_identical_sides_is_one_and_of_scaled_sides_is_the_scale():
    base = [100.0, 104.0, 97.0]
    assert stats.bootstrap_ratio_ci(base, base)[0] <= 1 <= stats.bootstrap_ratio_ci(base, base)[1]
    low, high = stats.bootstrap_ratio_ci([10.0, 10.0], [8.0, 8.0])
    assert low == high == pytest.approx(0.8)


def test_merging_histograms_equals_recording_into_one():
    rng = random.Random(5)
    first = [rng.randint(1, 5_000_000) for _ in range(3000)]
    second = [rng.randint(200, 90_000) for _ in range(2000)]
    merged = stats.merge_histograms([synthetic.histogram_from_ns(first), synthetic.histogram_from_ns(second)])
    assert merged == synthetic.histogram_from_ns(first + second)


def test_merge_skips_empty_and_missing_histograms():
    assert stats.merge_histograms([[], None, [[5, 5, 2]], [[5, 5, 1], [3, 3, 1]]]) == [[3, 3, 1], [5, 5, 3]]


def test_percentile_is_the_nearest_rank():
    histogram = [[v, v, 1] for v in range(1, 101)]  # one value per bucket: exact
    assert stats.histogram_percentile(histogram, 50) == 50
    assert stats.histogram_percentile(histogram, 99) == 99
    assert stats.histogram_percentile(histogram, 99.5) == 100
    assert stats.histogram_percentile(histogram, 100) == 100
    assert stats.histogram_percentile(histogram, 0) == 1


def test_percentile_rank_has_no_rounding_error():
    # 99.9% of 10000 values is rank 9990 exactly (a float product gives 9990.000000000002)
    histogram = [[v, v, 1] for v in range(1, 10001)]
    assert stats.histogram_percentile(histogram, 99.9) == 9990
    assert stats.histogram_percentile(histogram, 99.99) == 9999


def test_percentile_reports_the_bucket_upper_bound_clamped_to_the_maximum():
    histogram = [[100, 100, 10], [1000, 1003, 10]]
    assert stats.histogram_percentile(histogram, 50) == 100
    assert stats.histogram_percentile(histogram, 51) == 1003
    assert stats.histogram_percentile(histogram, 100, maximum=1001) == 1001


def test_percentile_matches_the_load_generator_definition():
    rng = random.Random(9)
    values = [int(rng.lognormvariate(11, 0.6)) for _ in range(5000)]
    histogram = synthetic.histogram_from_ns(values)
    expected = synthetic.latency_summary_us(values)  # mirrors loadgen/histogram.c
    for name, percent in (("p50", 50), ("p90", 90), ("p99", 99), ("p99_9", 99.9)):
        assert stats.histogram_percentile(histogram, percent, maximum=max(values)) / 1000 == \
            pytest.approx(expected[name], abs=0.001)


def test_percentile_of_the_overflow_bucket():
    overflow = [[5, 5, 1], [(1 << 37) + 1, (1 << 64) - 1, 1]]
    assert stats.histogram_percentile(overflow, 100) == (1 << 37) + 1
    assert stats.histogram_percentile(overflow, 100, maximum=1 << 40) == 1 << 40


def test_percentile_rejects_empty_histograms_and_bad_percentiles():
    with pytest.raises(ValueError):
        stats.histogram_percentile([], 50)
    with pytest.raises(ValueError):
        stats.histogram_percentile([[1, 1, 1]], 101)


def test_ranking_is_strict_when_intervals_do_not_overlap():
    estimates = {"a": (10, 9, 11), "b": (20, 19, 21), "c": (5, 4, 6)}
    assert stats.rank_with_ties(estimates, higher_is_better=True) == [["b"], ["a"], ["c"]]
    assert stats.rank_with_ties(estimates, higher_is_better=False) == [["c"], ["a"], ["b"]]


def test_ranking_ties_names_whose_interval_overlaps_the_leader():
    estimates = {"a": (10, 9, 11), "b": (8.5, 8, 9.5), "c": (7, 6, 8.2)}
    # b overlaps a (the leader); c overlaps b but not a, so it leads the next tier
    assert stats.rank_with_ties(estimates, higher_is_better=True) == [["a", "b"], ["c"]]


def test_ranking_tiers_stay_in_median_order():
    # c's wide interval reaches a's, but b (better median) is already separated from a
    estimates = {"a": (10, 9.5, 10.5), "b": (9, 8.8, 9.2), "c": (8, 5, 9.6)}
    assert stats.rank_with_ties(estimates, higher_is_better=True) == [["a"], ["b", "c"]]


def test_ranking_of_equal_medians_is_deterministic():
    estimates = {"z": (1, 1, 1), "y": (1, 1, 1)}
    assert stats.rank_with_ties(estimates, higher_is_better=True) == [["y", "z"]]


def test_tier_positions_share_the_average_place():
    positions = stats.tier_positions([["a"], ["b", "c"], ["d"]])
    assert positions == {"a": 1, "b": 2.5, "c": 2.5, "d": 4}


def test_kendall_tau_b_known_values():
    order = [["a"], ["b"], ["c"], ["d"]]
    assert stats.kendall_tau_b(order, order) == 1
    assert stats.kendall_tau_b(order, list(reversed(order))) == -1
    # one tied pair in b: concordant 2, discordant 0, over sqrt(3 * 2)
    assert stats.kendall_tau_b([["x"], ["y"], ["z"]], [["x", "y"], ["z"]]) == pytest.approx(2 / 6 ** 0.5)
    # one swapped pair out of 6: (5 - 1) / 6
    assert stats.kendall_tau_b(order, [["b"], ["a"], ["c"], ["d"]]) == pytest.approx(4 / 6)


def test_kendall_tau_b_uses_common_names_only():
    assert stats.kendall_tau_b([["a"], ["only-a"], ["b"]], [["a"], ["b"], ["only-b"]]) == 1
    assert stats.kendall_tau_b([["a"]], [["a"], ["b"]]) is None
    assert stats.kendall_tau_b([["a", "b"]], [["a"], ["b"]]) is None  # all tied: undefined
    with pytest.raises(ValueError):
        stats.kendall_tau_b([["a"], ["a"]], [["a"]])


def test_kendall_tau_b_matches_a_direct_count_on_random_orders():
    rng = random.Random(2)
    names = list("abcdefg")
    for _ in range(20):
        scores_a = {n: rng.randint(1, 4) for n in names}
        scores_b = {n: rng.randint(1, 4) for n in names}
        tiers_a = [[n for n in names if scores_a[n] == s] for s in sorted(set(scores_a.values()))]
        tiers_b = [[n for n in names if scores_b[n] == s] for s in sorted(set(scores_b.values()))]
        expected = _tau_b_from_scores([scores_a[n] for n in names], [scores_b[n] for n in names])
        got = stats.kendall_tau_b(tiers_a, tiers_b)
        assert (got is None and expected is None) or got == pytest.approx(expected)


def _tau_b_from_scores(x, y):
    """tau-b by its textbook formula on two score lists, as an independent check."""
    n0 = len(x) * (len(x) - 1) / 2
    pairs = [(i, j) for i in range(len(x)) for j in range(i + 1, len(x))]
    s = sum(_sign(x[i] - x[j]) * _sign(y[i] - y[j]) for i, j in pairs)
    n1 = sum(c * (c - 1) / 2 for c in _tie_sizes(x))
    n2 = sum(c * (c - 1) / 2 for c in _tie_sizes(y))
    denominator = ((n0 - n1) * (n0 - n2)) ** 0.5
    return None if denominator == 0 else s / denominator


def _sign(v):
    return (v > 0) - (v < 0)


def _tie_sizes(values):
    return [values.count(v) for v in set(values)]
