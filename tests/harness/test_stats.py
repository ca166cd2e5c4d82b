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


# ---- tiers from the test ----

def test_tiers_are_strict_when_every_pair_is_separated():
    samples = {"a": [100.0 + i for i in range(6)], "b": [200.0 + i for i in range(6)],
               "c": [50.0 + i for i in range(6)]}
    assert stats.tiers_by_test(samples, higher_is_better=True) == [["b"], ["a"], ["c"]]
    assert stats.tiers_by_test(samples, higher_is_better=False) == [["c"], ["a"], ["b"]]


def test_tiers_join_names_the_test_cannot_separate():
    samples = {"a": [100.0, 104, 96, 101, 99, 103], "b": [102.0, 97, 105, 98, 100, 101],
               "c": [50.0 + i for i in range(6)]}
    assert stats.tiers_by_test(samples, higher_is_better=True) == [["a", "b"], ["c"]]  # equal medians: by name


def test_a_cut_needs_every_pair_across_it_separated():
    # a and c are far apart, b overlaps both: no cut has every pair across it separated
    samples = {"a": [100.0 + i for i in range(6)], "b": [90.5, 92.5, 94.5, 100.5, 102.5, 104.5],
               "c": [90.0 + i for i in range(6)]}
    assert stats.rank_sum_p_value(samples["a"], samples["c"]) < 0.01
    assert stats.tiers_by_test(samples, higher_is_better=True) == [["a", "b", "c"]]


def test_too_few_repetitions_cannot_be_separated():
    # 3 against 3: the smallest two-sided p-value is 0.1, so nothing is ever split
    samples = {"a": [1.0, 2.0, 3.0], "b": [100.0, 200.0, 300.0]}
    assert stats.tiers_by_test(samples, higher_is_better=True) == [["b", "a"]]


@pytest.mark.parametrize("servers, reps", [(2, 4), (3, 4), (7, 4), (10, 4)])
def test_the_repetitions_needed_to_separate_anything(servers, reps):
    assert stats.min_reps_to_separate(servers) == reps
    assert stats.can_separate([reps] * servers) and not stats.can_separate([reps - 1] * servers)
    separated = {f"s{i}": [1000.0 * 2 ** i + r for r in range(reps)] for i in range(servers)}
    assert len(stats.tiers_by_test(separated, True)) == servers  # far apart: every one its own tier
    fewer = {name: values[:-1] for name, values in separated.items()}
    assert len(stats.tiers_by_test(fewer, True)) == 1


def test_equal_medians_are_ordered_by_name():
    assert stats.tiers_by_test({"z": [5.0] * 6, "y": [5.0] * 6}, higher_is_better=True) == [["y", "z"]]


CV = 0.05  # repetition-to-repetition noise of the simulations: a 5% coefficient of variation (lognormal)
DEFAULT_REPS = 6


def _draw(rng, centre, reps=DEFAULT_REPS):
    return [centre * rng.lognormvariate(0, CV) for _ in range(reps)]


@pytest.mark.parametrize("models", [2, 4, 10])
def test_equal_distributions_are_split_in_at_most_5_percent_of_trials(models):
    rng = random.Random(f"null-{models}")
    trials = 2000
    split = sum(len(stats.tiers_by_test({f"m{i}": _draw(rng, 1000) for i in range(models)}, True)) > 1
                for _ in range(trials))
    assert split / trials <= 0.05


@pytest.mark.parametrize("models", [2, 4, 10])
def test_a_20_percent_difference_at_6_repetitions_is_detected_in_90_percent_of_trials(models):
    # models m0, m1, ... each 20% faster than the next, 6 repetitions with 5% noise
    rng = random.Random(f"power-{models}")
    trials = 2000
    expected = [[f"m{i}"] for i in range(models)]
    detected = sum(stats.tiers_by_test({f"m{i}": _draw(rng, 1000 / 1.2 ** i) for i in range(models)}, True)
                   == expected for _ in range(trials))
    assert detected / trials >= 0.90


POINT_SCALES = [1000, 8000, 60000, 400]  # a workload's points differ by orders of magnitude


def _stratified_tiers(rng, speedups):
    """tiers_by_stratified_test over POINT_SCALES for models m0, m1, ... where m_i is
    speedups[i] times as fast as the baseline at every point."""
    names = [f"m{i}" for i in range(len(speedups))]
    strata = {name: [_draw(rng, scale * speedup) for scale in POINT_SCALES] for name, speedup in zip(names, speedups)}
    ordered = sorted(names, key=lambda name: -sum(map(stats.median, strata[name])))
    return stats.tiers_by_stratified_test(strata, ordered, higher_is_better=True)


@pytest.mark.parametrize("models", [2, 10])
def test_stratified_tiers_split_equal_distributions_in_at_most_5_percent_of_trials(models):
    rng = random.Random(f"stratified-null-{models}")
    trials = 1000
    split = sum(len(_stratified_tiers(rng, [1.0] * models)) > 1 for _ in range(trials))
    assert split / trials <= 0.05


def test_stratified_tiers_find_a_5_percent_difference_that_one_point_cannot():
    # 5% apart with 5% noise: 6 repetitions at one point rarely separate it; four points usually do
    rng = random.Random("stratified-power")
    trials = 500
    one_point = sum(len(stats.tiers_by_test({"m0": _draw(rng, 1050), "m1": _draw(rng, 1000)}, True)) == 2
                    for _ in range(trials))
    four_points = sum(_stratified_tiers(rng, [1.05, 1.0]) == [["m0"], ["m1"]] for _ in range(trials))
    assert four_points / trials >= 0.80 and four_points > 1.5 * one_point


def test_tier_factor_says_how_many_times_better_for_either_direction():
    fast = [120.0, 121, 122, 123, 124, 125]
    slow = [100.0, 101, 102, 103, 104, 105]
    throughput = stats.tier_factor(fast, slow, higher_is_better=True)
    latency = stats.tier_factor(slow, fast, higher_is_better=False)  # lower latency is better
    assert throughput.estimate == pytest.approx(latency.estimate) and throughput.estimate > 1.15
    assert throughput.low < throughput.estimate < throughput.high


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
