"""harness/stats.py: known answers, no I/O."""
import itertools
import math
import random
import statistics

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
# every count adaptive repetitions leave (6-12; the interpolation differs with each); the
# noise level is no dimension: order statistics commute with any increasing transform
@pytest.mark.parametrize("n", [6, 7, 8, 9, 10, 11, 12, 20])
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


# ---- the rank-sum tests, the false discovery rate, the ratio interval ----

def _brute_force_p_value(first, second):
    """The rank-sum p-value by enumerating every split of the pooled values (midranks for ties)."""
    pooled = first + second
    ordered = sorted(pooled)
    rank = {v: (ordered.index(v) + 1 + len(ordered) - ordered[::-1].index(v)) / 2 for v in pooled}
    centre = len(first) * (len(pooled) + 1) / 2
    observed = abs(sum(rank[v] for v in first) - centre)
    splits = list(itertools.combinations(range(len(pooled)), len(first)))
    extreme = sum(abs(sum(rank[pooled[i]] for i in split) - centre) >= observed - 1e-9 for split in splits)
    return extreme / len(splits)


def test_rank_sum_p_value_known_answers():
    # complete separation of 6 and 6: 2 of the C(12, 6) = 924 splits are as extreme
    assert stats.rank_sum_p_value(range(1, 7), range(7, 13)) == pytest.approx(2 / 924)
    assert stats.rank_sum_p_value([1, 2, 3], [1, 2, 3]) == 1.0
    assert stats.rank_sum_p_value([5.0] * 6, [5.0] * 6) == 1.0  # all tied: nothing to tell apart
    with pytest.raises(ValueError):
        stats.rank_sum_p_value([], [1.0])


def test_rank_sum_p_value_equals_full_enumeration_with_and_without_ties():
    rng = random.Random(11)
    for _ in range(40):
        m, n = rng.randint(1, 6), rng.randint(1, 6)
        first = [float(rng.randint(0, 6)) for _ in range(m)]  # small integers: many ties
        second = [float(rng.randint(0, 6)) for _ in range(n)]
        assert stats.rank_sum_p_value(first, second) == pytest.approx(_brute_force_p_value(first, second))


def _brute_force_greater_p_value(first, second):
    """The one-sided p-value by enumeration: the share of splits whose rank sum is at least first's."""
    pooled = first + second
    ordered = sorted(pooled)
    rank = {v: (ordered.index(v) + 1 + len(ordered) - ordered[::-1].index(v)) / 2 for v in pooled}
    observed = sum(rank[v] for v in first)
    splits = list(itertools.combinations(range(len(pooled)), len(first)))
    return sum(sum(rank[pooled[i]] for i in split) >= observed - 1e-9 for split in splits) / len(splits)


def test_one_sided_rank_sum_p_value_equals_full_enumeration():
    rng = random.Random(12)
    for _ in range(40):
        m, n = rng.randint(1, 6), rng.randint(1, 6)
        first = [float(rng.randint(0, 6)) for _ in range(m)]
        second = [float(rng.randint(0, 6)) for _ in range(n)]
        assert stats.rank_sum_p_value_greater(first, second) == pytest.approx(
            _brute_force_greater_p_value(first, second))
    assert stats.rank_sum_p_value_greater(range(7, 13), range(1, 7)) == pytest.approx(1 / 924)
    assert stats.rank_sum_p_value_greater(range(1, 7), range(7, 13)) == 1.0


def test_worse_p_value_looks_one_way_and_keeps_the_larger_of_its_two_tests():
    low, high = [1.0, 2, 3, 4, 5, 6], [10.0, 11, 12, 13, 14, 15]
    assert stats.worse_p_value(high, low) == pytest.approx(1 / 924)  # apart: the exact test's floor
    assert stats.worse_p_value(low, high) == 1.0
    noisy, tight = [1.0, 5, 9, 50, 60, 70], [20.0, 21, 22, 23, 24, 25]
    p_unequal, _ = stats.brunner_munzel(noisy, tight)
    assert stats.worse_p_value(noisy, tight) == pytest.approx(
        max(stats.rank_sum_p_value_greater(noisy, tight), 1 - p_unequal / 2))


def _brute_force_signed_rank_greater(differences):
    """The signed-rank p-value by enumerating every pattern of signs (zeros dropped, midranks for ties)."""
    nonzero = [d for d in differences if d != 0]
    sizes = sorted(abs(d) for d in nonzero)
    rank = {v: (sizes.index(v) + 1 + len(sizes) - sizes[::-1].index(v)) / 2 for v in sizes}
    observed = sum(rank[abs(d)] for d in nonzero if d > 0)
    patterns = list(itertools.product((False, True), repeat=len(nonzero)))
    return sum(sum(rank[abs(d)] for d, up in zip(nonzero, signs) if up) >= observed - 1e-9
               for signs in patterns) / len(patterns)


def test_signed_rank_p_value_equals_full_enumeration_with_ties_and_zeros():
    rng = random.Random(13)
    for _ in range(40):
        differences = [float(rng.randint(-4, 4)) for _ in range(rng.randint(1, 9))]  # ties and zeros
        assert stats.signed_rank_p_value_greater(differences) == pytest.approx(
            _brute_force_signed_rank_greater(differences))
    assert stats.signed_rank_p_value_greater([0.1] * 10) == pytest.approx(stats.signed_rank_floor(10))
    assert stats.signed_rank_p_value_greater([0.0, 0.0]) == 1.0


def test_fdr_rejects_up_to_the_largest_p_value_under_its_step():
    # steps 0.05 * k / 3: 0.0167, 0.0333, 0.05; c = 0.04 passes the third, so all three go
    assert stats.fdr_rejections({"a": 0.01, "b": 0.03, "c": 0.04}) == {"a", "b", "c"}
    # 0.001 passes the first step, 0.04 fails 0.0333 and 0.06 fails 0.05
    assert stats.fdr_rejections({"a": 0.04, "b": 0.06, "c": 0.001}) == {"c"}
    # step-up: a (0.02) is above its step 0.0167, but b (0.03) passes 0.0333, and so both go
    assert stats.fdr_rejections({"a": 0.02, "b": 0.03, "c": 0.5}) == {"a", "b"}
    assert stats.fdr_rejections({"a": 0.06}) == set()
    assert stats.fdr_rejections({}) == set()


def test_stratified_rank_sum_of_one_stratum_is_the_exact_test():
    first, second = [1.0, 2, 3, 4, 5, 6], [4.5, 7, 8, 9, 10, 11]
    p, direction = stats.stratified_rank_sum([(first, second)])
    assert p == stats.rank_sum_p_value(first, second) and direction < 0


def test_stratified_rank_sum_adds_the_strata_and_skips_all_tied_ones():
    apart = ([10.0, 11, 12, 13, 14, 15], [1.0, 2, 3, 4, 5, 6])
    far_away = ([1e6 + v for v in apart[0]], [1e6 + v for v in apart[1]])  # the same story at another scale
    p_two, direction = stats.stratified_rank_sum([apart, far_away])
    assert direction > 0 and p_two < stats.rank_sum_p_value(*apart)  # two strata say more than one
    tied = ([5.0] * 6, [5.0] * 6)
    assert stats.stratified_rank_sum([apart, far_away, tied]) == stats.stratified_rank_sum([apart, far_away])
    assert stats.stratified_rank_sum([tied, tied]) == (1.0, 0.0)
    assert stats.stratified_rank_sum([apart, ([1.0], [])]) == stats.stratified_rank_sum([apart])


def test_ratio_interval_of_scaled_and_identical_samples():
    base = [10.0, 11.0, 12.0, 13.0, 14.0, 15.0]
    doubled = stats.ratio_interval([2 * v for v in base], base)
    assert doubled.estimate == pytest.approx(2.0)
    assert doubled.low < 2.0 < doubled.high
    same = stats.ratio_interval(base, base)
    assert same.estimate == 1.0 and same.low < 1 < same.high
    assert stats.ratio_interval([5.0] * 6, [5.0] * 7) == stats.Ratio(1.0, 1.0, 1.0)
    assert stats.ratio_interval([0.0, 1.0], [1.0, 2.0]).low is None  # a ratio of logs needs positive values


def test_ratio_interval_is_the_ratio_of_medians_within_both_medians_intervals():
    tight, noisy = [100.0, 101.0, 99.0, 100.5, 99.5, 100.2], [50.0, 80.0, 100.0, 120.0, 200.0, 400.0, 90.0]
    ratio = stats.ratio_interval(noisy, tight)
    assert ratio.estimate == stats.median(noisy) / stats.median(tight)
    noisy_low, noisy_high = stats.median_ci(noisy)
    tight_low, tight_high = stats.median_ci(tight)
    # at least as wide as the noisy side alone, no wider than the two taken at their worst
    assert noisy_low / stats.median(tight) >= ratio.low >= noisy_low / tight_high
    assert noisy_high / stats.median(tight) <= ratio.high <= noisy_high / tight_low
    flipped = stats.ratio_interval(tight, noisy)
    assert (flipped.estimate, flipped.low, flipped.high) == pytest.approx((1 / ratio.estimate, 1 / ratio.high,
                                                                           1 / ratio.low))


@pytest.mark.parametrize("reps", [(5, 12), (12, 5), (3, 3)])
def test_ratio_interval_declines_when_a_side_has_no_interval_of_its_median(reps):
    rng = random.Random(f"few-{reps}")
    ratio = stats.ratio_interval(*([rng.uniform(1, 2) for _ in range(n)] for n in reps))
    assert ratio.low is None and ratio.high is None and ratio.estimate > 0


def _lognormal_draws(rng, centre, cv, reps):
    """reps lognormal values of median `centre` and coefficient of variation cv."""
    sigma = math.sqrt(math.log(1 + cv * cv))
    return [centre * math.exp(rng.gauss(0, sigma)) for _ in range(reps)]


def _binomial_floor(rate, trials, sigmas=3):
    """The lowest share of successes consistent with a true rate at `sigmas` standard errors."""
    return rate - sigmas * math.sqrt(rate * (1 - rate) / trials)


# Real runs put cells at CV 0.75-1.2 beside cells at 0.05, and adaptive
# repetitions leave cells with unequal counts: one side tight (CV 0.05), the
# other as noisy as the grid says, counts (tight, noisy).
NOISE_GRID = [0.05, 0.3, 0.75]
COUNT_GRID = [(6, 6), (10, 6), (6, 10), (12, 6)]


@pytest.mark.parametrize("cv", NOISE_GRID)
@pytest.mark.parametrize("tight_reps, noisy_reps", COUNT_GRID)
def test_ratio_interval_covers_95_percent_with_one_noisy_side_and_unequal_counts(cv, tight_reps, noisy_reps):
    rng = random.Random(f"ratio-{cv}-{tight_reps}-{noisy_reps}")
    trials, covered = 4000, 0
    for trial in range(trials):
        tight, noisy = _lognormal_draws(rng, 100, 0.05, tight_reps), _lognormal_draws(rng, 130, cv, noisy_reps)
        # the noisy side is the numerator in half the trials, the denominator in the other half
        ratio, truth = (stats.ratio_interval(noisy, tight), 1.3) if trial % 2 else \
            (stats.ratio_interval(tight, noisy), 1 / 1.3)
        covered += ratio.low <= truth <= ratio.high
    assert _binomial_floor(0.95, trials) <= covered / trials <= 0.99  # nominal, and not absurdly wide


# Skewed noise of other shapes than lognormal, (draw, true median): 1 + Exp(1),
# and a sixth of repetitions 3x slower (5/6 of the values near 1 must hold half
# the mass, so the median is the 60th percentile of the undisturbed ones).
OTHER_SHAPES = {
    "exponential": (lambda rng: 1 + rng.expovariate(1), 1 + math.log(2)),
    "outliers": (lambda rng: (3 if rng.random() < 1 / 6 else 1) * math.exp(rng.gauss(0, 0.05)),
                 math.exp(0.05 * statistics.NormalDist().inv_cdf(0.6))),
}


@pytest.mark.parametrize("shape", sorted(OTHER_SHAPES))
@pytest.mark.parametrize("tight_reps, noisy_reps", [(10, 6), (6, 10)])
def test_ratio_interval_covers_95_percent_whatever_the_noisy_sides_shape(shape, tight_reps, noisy_reps):
    draw, true_median = OTHER_SHAPES[shape]
    rng = random.Random(f"shape-{shape}-{tight_reps}-{noisy_reps}")
    trials, covered = 1500, 0
    for _ in range(trials):
        ratio = stats.ratio_interval([draw(rng) for _ in range(noisy_reps)], _lognormal_draws(rng, 1, 0.05, tight_reps))
        covered += ratio.low <= true_median <= ratio.high
    assert _binomial_floor(0.95, trials) <= covered / trials


