"""Statistics for the harness: pure functions, standard library only, no I/O.

Repetitions are few (typically 5 to 20) and benchmark figures are skewed (a
noisy neighbour only ever makes things slower), so the centre is the median and
its uncertainty the distribution-free order-statistic interval (median_ci),
which assumes no distribution and declines when there are too few values.

Latency histograms are the load generator's: lists of [low_ns, high_ns, count]
buckets, each bucket standing for the values low..high inclusive."""
import bisect
import functools
import math
import statistics
from dataclasses import dataclass
from fractions import Fraction


def median(values) -> float:
    values = list(values)
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


# What the report says about median_ci(), backed by tests/harness/test_stats.py
# (which checks 93-97% at n = 6 to 12 and 20 for normal, lognormal and exponential values;
# 20,000 trials each measured 94.2-95.2%, the lowest at n = 7 and 8).
MEDIAN_CI_METHOD = ("the distribution-free interval of the median from order statistics, interpolated "
                    "(Hettmansperger-Sheather); its coverage, simulated for normal, lognormal and exponential "
                    "repetitions at n = 6 to 20, is 94-95%. Below 6 repetitions no 95% interval exists "
                    "(even [min, max] of 5 covers the median only 93.75% of the time), so none is given")


def median_ci(values, confidence=0.95) -> tuple[float, float] | None:
    """Distribution-free confidence interval of the median, or None when there
    are too few values for one.

    The order statistics x(d) and x(n+1-d) bracket the true median with
    probability 1 - 2 P(B < d), B ~ Binomial(n, 1/2), whatever the distribution
    (as long as it is continuous): no bootstrap, no normality. Those exact
    coverages jump (n = 10: 97.9% for d = 2, 89.1% for d = 3), so the interval
    is interpolated between the two neighbouring order statistics as
    Hettmansperger and Sheather (1986) show, which brings its coverage to the
    nominal level (tests/harness/test_stats.py simulates it). With n <= 5 even
    [min, max] covers the median with less than 95% probability (n = 5: 93.75%),
    so there is no honest 95% interval, and this returns None instead of
    pretending: callers say "too few repetitions"."""
    ordered = sorted(float(v) for v in values)
    n = len(ordered)
    if not n:
        raise ValueError("interval of no values")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), not {confidence}")
    if _order_coverage(n, 1) < confidence:
        return None
    depth = 1  # the widest pair still covering: x(depth), x(n + 1 - depth), 1-based
    while depth < n // 2 and _order_coverage(n, depth + 1) >= confidence:
        depth += 1
    outer, inner = _order_coverage(n, depth), _order_coverage(n, depth + 1)
    share = (outer - confidence) / (outer - inner)
    weight = (n - depth) * share / (depth + (n - 2 * depth) * share)
    low = weight * ordered[depth] + (1 - weight) * ordered[depth - 1]
    high = weight * ordered[n - depth - 1] + (1 - weight) * ordered[n - depth]
    return low, high


def min_reps_for_interval(confidence=0.95) -> int:
    """The fewest values for which median_ci() gives an interval (6 at 95%)."""
    n = 1
    while _order_coverage(n, 1) < confidence:
        n += 1
    return n


@functools.lru_cache(maxsize=1024)
def _order_coverage(n, depth):
    """P(x(depth) <= median <= x(n + 1 - depth)) for n values of a continuous distribution."""
    below = sum(math.comb(n, i) for i in range(depth))
    return 1 - 2 * Fraction(below, 2 ** n)


# ---- two samples: a test, and the ratio of their typical values with its interval ----

def rank_sum_p_value(first, second) -> float:
    """Two-sided p-value of the Wilcoxon-Mann-Whitney rank-sum test that first and
    second come from one distribution, against one being stochastically larger.

    Exact: the p-value is the share of all C(m+n, m) ways to split the pooled
    values into groups of m and n whose rank sum lies as far from its mean as the
    observed one, counted by dynamic programming (no sampling, no normal
    approximation). Tied values share their mean rank, and the count is made with
    those very ranks, so ties are exact too (values capped at a rate limit, say).
    Repetitions are separate runs, not pairs, so the test is unpaired; ranks are
    unchanged by taking logs, so a ratio and a difference are tested alike."""
    observed, distribution, centre, ways = _rank_sum_setting(first, second)
    extreme = sum(count for total, count in distribution.items()
                  if abs(total - centre) >= abs(observed - centre))
    return extreme / ways


def rank_sum_p_value_greater(first, second) -> float:
    """One-sided p-value of the exact rank-sum test against first being
    stochastically larger than second: the share of splits whose rank sum is at
    least the observed one (rank_sum_p_value's counting, one tail). A gate that
    asks only "did it get worse?" tests one direction, so its smallest p-value
    is half the two-sided one: 1 / C(m+n, m), 1/924 at 6 against 6."""
    observed, distribution, _, ways = _rank_sum_setting(first, second)
    return sum(count for total, count in distribution.items() if total >= observed) / ways


def signed_rank_p_value_greater(differences) -> float:
    """One-sided p-value of the exact Wilcoxon signed-rank test that paired
    differences lean above 0: under "either order in a pair is as likely"
    every pattern of signs is, so the p-value is the share of the 2^n
    patterns whose sum of positive ranks is at least the observed one.
    Differences of 0 say nothing and are left out; tied magnitudes share
    their mean rank, counted exactly (doubled ranks are integers). For two
    variants measured in the same rounds (ab interleaves them), a pair is
    one round, and whatever made one round slower than another hits both
    sides of it, so it cancels in the difference instead of widening each
    side's spread."""
    nonzero = [float(d) for d in differences if d != 0]
    if not nonzero:
        return 1.0
    doubled = _doubled_midranks([abs(d) for d in nonzero])
    observed = sum(rank for rank, d in zip(doubled, nonzero) if d > 0)
    counts = _signed_rank_distribution(tuple(sorted(doubled)))
    return sum(count for total, count in counts.items() if total >= observed) / 2 ** len(nonzero)


@functools.lru_cache(maxsize=512)
def _signed_rank_distribution(doubled_ranks):
    """{sum of the doubled ranks given a + sign: number of sign patterns}."""
    counts = {0: 1}
    for rank in doubled_ranks:
        grown = dict(counts)
        for total, count in counts.items():
            grown[total + rank] = grown.get(total + rank, 0) + count
        counts = grown
    return counts


def signed_rank_floor(pairs) -> float:
    """The smallest p-value signed_rank_p_value_greater can give with this many pairs."""
    return 0.5 ** pairs


def rank_sum_floor(count, other_count) -> float:
    """The smallest one-sided p-value rank_sum_p_value_greater can give with
    these sample sizes (no ties): one split of C(m+n, m)."""
    return 1 / math.comb(count + other_count, count)


def _rank_sum_setting(first, second):
    """(observed doubled rank sum of first, its distribution, its mean, the
    number of splits) for the exact tests above."""
    first, second = [float(v) for v in first], [float(v) for v in second]
    if not first or not second:
        raise ValueError("rank-sum test of an empty sample")
    doubled = _doubled_midranks(first + second)
    distribution = _rank_sum_distribution(tuple(sorted(doubled)), len(first))
    return (sum(doubled[:len(first)]), distribution, len(first) * (len(doubled) + 1),
            math.comb(len(doubled), len(first)))


def _doubled_midranks(values):
    """Each value's rank (1-based) times two, tied values sharing their mean rank
    (times two it is an integer, so the counting stays exact)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    doubled = [0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            doubled[order[position]] = (start + 1) + (end + 1)
        start = end + 1
    return doubled


@functools.lru_cache(maxsize=512)
def _rank_sum_distribution(doubled_ranks, group_size):
    """{rank sum: number of subsets of group_size ranks with that sum}. Cached: without
    ties it depends only on the two sample sizes, so a report computes it a few times."""
    by_size = [dict() for _ in range(group_size + 1)]
    by_size[0][0] = 1
    for rank in doubled_ranks:
        for size in range(group_size, 0, -1):
            grown = by_size[size]
            for total, count in by_size[size - 1].items():
                grown[total + rank] = grown.get(total + rank, 0) + count
    return by_size[group_size]


def fdr_rejections(p_values: dict, alpha=0.05) -> set:
    """The keys that the Benjamini-Hochberg step-up procedure rejects at false
    discovery rate alpha: with sorted p-values p(1) <= ... <= p(m), every key up to
    the largest k with p(k) <= k * alpha / m. Among the pairs it declares different
    at most a share alpha are expected to be equal; when all are equal, the chance
    of declaring any different is at most alpha (tests/harness/test_stats.py
    simulates both with the pairwise rank-sum tests used here).

    Why not Holm's family-wise correction: with 10 servers (45 pairs) and 6
    repetitions, Holm needs p <= 0.05 / 45 for the first rejection, below the
    smallest p-value 6 against 6 can reach (2/924), so a whole default run ranked
    every server equal, reference-epoll included."""
    ordered = sorted(p_values, key=lambda k: (p_values[k], str(k)))
    passing = [rank for rank, key in enumerate(ordered, 1) if p_values[key] <= rank * alpha / len(ordered)]
    return set(ordered[:max(passing, default=0)])


def stratified_rank_sum(strata, weights=None) -> tuple[float, float]:
    """(two-sided p-value, direction) of van Elteren's stratified rank-sum test over
    strata of (first values, second values): the points of a workload, each its own
    stratum, so a server 10x faster at one point and a little slower at another is
    not scored as a difference of the points' scales.

    In each stratum the first sample's rank sum W (midranks) is centred on its
    mean under "one distribution", and the strata are added with weight 1/(N+1),
    which gives each stratum about the same say whatever its size; the variance
    has the tie correction, and the p-value is the normal approximation (the
    exact rank_sum_p_value when there is one stratum, so a one-point scope gives
    that point's test). direction > 0 when first's values tend to be larger.
    weights (one per stratum, default 1) scale a stratum's say further: the
    overall ranking gives each workload the same say however many points it has.
    A stratum whose values are all equal says nothing and is skipped."""
    weights = [1.0] * len(strata) if weights is None else weights
    strata = [([float(v) for v in first], [float(v) for v in second], extra)
              for (first, second), extra in zip(strata, weights) if first and second]
    if len(strata) == 1:
        first, second, _ = strata[0]
        return rank_sum_p_value(first, second), median(first) - median(second)
    statistic = variance = 0.0
    for first, second, extra in strata:
        m, n = len(first), len(second)
        total = m + n
        doubled = _doubled_midranks(first + second)
        ties = sum(count ** 3 - count for count in _tie_sizes(doubled))
        stratum_variance = m * n / 12 * (total + 1 - ties / (total * (total - 1)))
        if stratum_variance <= 0:
            continue
        weight = extra / (total + 1)
        statistic += weight * (sum(doubled[:m]) / 2 - m * (total + 1) / 2)
        variance += weight ** 2 * stratum_variance
    if variance == 0:
        return 1.0, 0.0
    return math.erfc(abs(statistic) / math.sqrt(2 * variance)), statistic


def _tie_sizes(doubled_ranks):
    counts = {}
    for rank in doubled_ranks:
        counts[rank] = counts.get(rank, 0) + 1
    return [count for count in counts.values() if count > 1]


@dataclass
class Ratio:
    """How many times one sample's typical value is another's, with its interval
    (low and high None when there are too few values for one)."""
    estimate: float
    low: float | None
    high: float | None


def ratio_interval(numerator, denominator, confidence=0.95) -> Ratio:
    """How many times numerator's median is denominator's, and its interval,
    each side keeping its own spread.

    The estimate is the ratio of the two sample medians (exactly 1 for identical
    samples). The interval combines each median's own distribution-free interval
    (median_ci) on logarithms, by the method of variance estimates recovery (Zou
    and Donner, 2008): a median's interval says how far its estimate may be off
    on either side, the two errors are independent, so they add like variances,
    and the ratio's lower end takes the numerator's downward room with the
    denominator's upward room (and the mirror for the upper end):
        log low  = log(a/b) - sqrt(log(a/a_low)^2 + log(b_high/b)^2)
        log high = log(a/b) + sqrt(log(a_high/a)^2 + log(b/b_low)^2)
    So a noisy side widens the interval by its own noise however many
    repetitions the tight side has. The rank-based interval used before
    (Hodges-Lehmann with Moses' interval) is exact only when both sides have the
    same shape of noise: 12 tight repetitions (CV 0.05) against 6 noisy ones (CV
    0.75) covered the true ratio 81.5% of the time, and compare flagged 10%
    false regressions there. Each side's interval assumes no distribution;
    adding the two as variances is the one approximation.

    Simulated (tests/harness/test_stats.py: lognormal repetitions, one side CV
    0.05 and the other 0.05, 0.3 or 0.75, 6 to 12 repetitions a side in any
    mix, 4,000 trials each; and exponential or outlier-ridden noisy sides):
    coverage 94.9-97.9%. It cannot beat the noisy side's own median_ci: with 7
    or 8 noisy repetitions (where median_ci covers 94.2%) it is about 94.5%.
    It is conservative when both sides have the same noise (about 97.5%), the
    price of not assuming they do: the rank-based interval caught a 1.3x
    slowdown 71% of the time at 6 a side and CV 0.15, this one 61%. Limits:
    each side needs median_ci's 6 repetitions (5 values have no 95% interval of
    their median, so the ratio has none: low and high are None), every value
    must be positive (logarithms; else the ratio of the medians without an
    interval), and the target is the ratio of the true medians, not of means."""
    numerator, denominator = [float(v) for v in numerator], [float(v) for v in denominator]
    if not numerator or not denominator:
        raise ValueError("ratio of an empty sample")
    top, bottom = median(numerator), median(denominator)
    estimate = _ratio(top, bottom)
    top_interval, bottom_interval = median_ci(numerator, confidence), median_ci(denominator, confidence)
    if min(numerator + denominator) <= 0 or top_interval is None or bottom_interval is None:
        return Ratio(estimate, None, None)
    top_down, top_up = _log_room(top, top_interval)
    bottom_down, bottom_up = _log_room(bottom, bottom_interval)
    log_estimate = math.log(top) - math.log(bottom)
    return Ratio(estimate, math.exp(log_estimate - math.hypot(top_down, bottom_up)),
                 math.exp(log_estimate + math.hypot(top_up, bottom_down)))


def _log_room(centre, interval):
    """How far (in logarithms) a median's interval reaches below and above it."""
    low, high = interval
    return math.log(centre) - math.log(low), math.log(high) - math.log(centre)


def _ratio(numerator, denominator):
    if denominator == 0:
        return 1.0 if numerator == 0 else math.inf
    return numerator / denominator


def coefficient_of_variation(values) -> float:
    """Sample standard deviation over mean; 0.0 for fewer than 2 values or a zero mean."""
    values = list(values)
    if len(values) < 2:
        return 0.0
    mean = statistics.fmean(values)
    if mean == 0:
        return 0.0
    return statistics.stdev(values) / abs(mean)


def histogram_percentile(histogram, percentile, maximum=None) -> float:
    """The percentile (0..100) of a histogram's values, in ns.

    Nearest rank: the value of rank ceil(percentile/100 * count) (at least 1),
    the definition the load generator uses, so a repetition's figures here equal
    its own report (tests/harness/test_loadgen_percentiles.py checks it on a real
    run's document). A histogram knows a value only to its bucket, and this
    returns the bucket's upper bound: it never understates a latency, and the
    error is below 1/128 of the value with the load generator's buckets. When
    the true maximum is known (`maximum`, ns) the result is clamped to it, so
    the 100th percentile is the exact maximum and not its bucket's end. The
    load generator's overflow bucket (values above its range, high = 2^64-1)
    reports its lower end unless the maximum is known."""
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile must be in [0, 100], not {percentile}")
    total = sum(count for _, _, count in histogram)
    if total <= 0:
        raise ValueError("percentile of an empty histogram")
    rank = _nearest_rank(total, percentile)
    seen = 0
    for low, high, count in sorted(histogram):
        seen += count
        if seen >= rank:
            if maximum is not None:
                return float(min(high, max(maximum, low)))
            return float(low if high >= (1 << 64) - 1 else high)
    raise AssertionError("unreachable: rank <= total")


def _nearest_rank(total, percentile):
    """ceil(percentile/100 * total) computed exactly (Fraction), clamped to 1..total:
    99.9% of 10000 is rank 9990, not 9991 from a rounding error."""
    rank = math.ceil(Fraction(str(percentile)) * total / 100)
    return min(total, max(1, rank))


# ---- two samples of unequal spread: Brunner-Munzel ----

def brunner_munzel(first, second) -> tuple[float, float]:
    """(two-sided p-value, relative effect) of Brunner and Munzel's test that a
    value of first is as likely to be above a value of second as below it.

    The relative effect is the estimated P(first > second) + P(tie) / 2, from
    placements (how many of the other sample lie below each value, ties half);
    its variance is estimated from each sample's own placements, so a cell far
    noisier than the other does not inflate the test, as it does the rank-sum
    test's (whose null is "one distribution": two cells with one median but
    different spreads are "different" to it). The p-value uses Student's t with
    Welch-Satterthwaite degrees of freedom. Samples that do not overlap at all
    have no placement variance: p-value 0, the effect 0 or 1. With fewer than 2
    values a side nothing can be said: p-value 1."""
    first, second = [float(v) for v in first], [float(v) for v in second]
    m, n = len(first), len(second)
    if m < 2 or n < 2:
        return 1.0, _relative_effect(first, second)
    above_first = _placements(first, second)
    above_second = _placements(second, first)
    effect = statistics.fmean(above_first) / n
    part_first = statistics.variance(above_first) / (m * n * n)
    part_second = statistics.variance(above_second) / (n * m * m)
    spread = part_first + part_second
    if spread == 0:
        return (1.0 if effect == 0.5 else 0.0), effect
    statistic = (effect - 0.5) / math.sqrt(spread)
    freedom = spread ** 2 / (part_first ** 2 / (m - 1) + part_second ** 2 / (n - 1))
    return student_t_two_sided(statistic, freedom), effect


def _placements(values, others):
    """For each value, how many of others lie below it (a tie counts a half)."""
    ordered = sorted(others)
    return [bisect.bisect_left(ordered, v) + (bisect.bisect_right(ordered, v) - bisect.bisect_left(ordered, v)) / 2
            for v in values]


def _relative_effect(first, second):
    if not first or not second:
        return 0.5
    return statistics.fmean(_placements(first, second)) / len(second)


def student_t_two_sided(statistic, freedom) -> float:
    """P(|T| >= |statistic|) for Student's t with `freedom` degrees of freedom
    (any positive real): the regularized incomplete beta I_x(freedom/2, 1/2),
    x = freedom / (freedom + statistic^2)."""
    if not freedom > 0:
        raise ValueError(f"degrees of freedom must be positive, not {freedom}")
    if math.isinf(statistic):
        return 0.0
    return _incomplete_beta(freedom / (freedom + statistic * statistic), freedom / 2, 0.5)


def _incomplete_beta(x, a, b):
    """The regularized incomplete beta function I_x(a, b), by its continued
    fraction (evaluated with Lentz's method), using the symmetry
    I_x(a, b) = 1 - I_(1-x)(b, a) where the fraction converges slowly."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    if x > (a + 1) / (a + b + 2):
        return 1.0 - _incomplete_beta(1 - x, b, a)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    return front * _beta_fraction(x, a, b) / a


def _beta_fraction(x, a, b, tiny=1e-300, tolerance=1e-14):
    """1 / (1 + d1 / (1 + d2 / (1 + ...))), the continued fraction of I_x(a, b)."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for step in range(1, 500):
        for numerator in (step * (b - step) * x / ((a + 2 * step - 1) * (a + 2 * step)),
                          -(a + step) * (a + b + step) * x / ((a + 2 * step) * (a + 2 * step + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < tolerance:
            break
    return result


def worse_p_value(first, second) -> float:
    """One-sided p-value that first's values are stochastically larger than
    second's: pair_test's rule (the larger of the exact rank-sum and
    Brunner-Munzel p-values, each valid where the other is not), one tail.
    Brunner-Munzel's one tail is half its two-sided p-value when its effect
    points that way, else one minus that half."""
    p_unequal, effect = brunner_munzel(first, second)
    one_tail = p_unequal / 2 if effect > 0.5 else 1 - p_unequal / 2
    return max(rank_sum_p_value_greater(first, second), one_tail)


def pair_test(first, second) -> tuple[float, float]:
    """(p-value, relative effect) of the test that decides a pair at one point:
    the larger of the exact rank-sum p-value and Brunner-Munzel's.

    Each is valid where the other is not: the rank-sum test is exact for any
    count but assumes one shape of noise on both sides (under equal medians and
    unequal spreads its false verdicts can triple); Brunner-Munzel allows
    unequal spreads but is an approximation, a little liberal at 5 or 6 values
    a side. A p-value at most alpha from both is therefore trustworthy in both
    situations (the chance that the larger is small is at most either's). Two
    samples that do not overlap keep the rank-sum test's smallest p-value,
    2 / C(m+n, m) (Brunner-Munzel gives 0 there). The relative effect,
    P(first > second) + P(tie) / 2, gives the direction: above 1/2, first's
    values tend to be larger (it counts which way the pairs of
    repetitions point, so it may disagree with the ratio of medians when
    the two are close: the verdict goes by the effect)."""
    p_unequal, effect = brunner_munzel(first, second)
    return max(rank_sum_p_value(first, second), p_unequal), effect


# ---- verdicts: every pair of names, the false discovery rate held ----

@dataclass
class Verdict:
    """One pair's verdict. better is a or b, or None when the test does not tell
    them apart (unresolved: not "equal", just not shown different). ratio is a's
    typical figure over b's (ratio_interval: the ratio of their medians, the metric as measured: for
    latency a ratio below 1 means a is faster), low..high its 95% interval (None
    with too few repetitions, and for a workload's or the overall verdict,
    whose ratio is the geometric mean of the points' ratios). p is the pair's
    own p-value, before the false discovery rate step."""
    a: str
    b: str
    better: str | None
    ratio: float
    low: float | None
    high: float | None
    p: float

    @property
    def worse(self):
        return None if self.better is None else (self.b if self.better == self.a else self.a)


def order_by_median(samples: dict, higher_is_better: bool) -> list[str]:
    """Names best first by the median of their values; equal medians by name."""
    sign = -1 if higher_is_better else 1
    return sorted(samples, key=lambda name: (sign * median(samples[name]), name))


def pairs_to_test(ordered: list[str]) -> list[tuple[str, str]]:
    """Every pair of names, the earlier one first: all are tested, not only
    neighbours in some order (a noisy cell between two others would hide them)."""
    return [(a, b) for i, a in enumerate(ordered) for b in ordered[i + 1:]]


def better_of(pair, first_larger: bool, higher_is_better: bool) -> str:
    """The better name of a separated pair (a, b): a when a's values are the
    larger and larger is better, or the smaller and smaller is better."""
    a, b = pair
    return a if first_larger == higher_is_better else b


def pairwise_verdicts(samples: dict[str, list[float]], higher_is_better: bool, alpha=0.05) -> list[Verdict]:
    """A Verdict for every pair of names at one point, from name -> values.

    Every pair is tested (pair_test), the false discovery rate over the pairs
    is held at alpha (fdr_rejections: among the pairs given a verdict, at most
    a share alpha are expected to have none in truth; when all are equal, the
    chance of any verdict is at most alpha), and a rejected pair's better side
    is the one its values favour. Names are taken best first by median, so a is
    usually the better of a resolved pair."""
    ordered = order_by_median(samples, higher_is_better)
    tested = {pair: pair_test(samples[pair[0]], samples[pair[1]]) for pair in pairs_to_test(ordered)}
    rejected = fdr_rejections({pair: p for pair, (p, _) in tested.items()}, alpha)
    verdicts = []
    for pair, (p, effect) in tested.items():
        a, b = pair
        ratio = ratio_interval(samples[a], samples[b])
        better = better_of(pair, effect > 0.5, higher_is_better) if pair in rejected and effect != 0.5 else None
        verdicts.append(Verdict(a, b, better, ratio.estimate, ratio.low, ratio.high, p))
    return verdicts


def stratified_verdicts(strata: dict[str, list], ordered: list[str], higher_is_better: bool,
                        weights=None, alpha=0.05) -> list[Verdict]:
    """A Verdict for every pair of names over several points at once: strata
    maps each name to its values per point (a list per point, None where it has
    no result there). Each pair is tested by stratified_rank_sum() (van
    Elteren) over the points where both have results (weights: one per point,
    default 1); over a single common point, by that point's own pair_test. The
    false discovery rate is held at alpha. The ratio is the weighted geometric
    mean of the common points' ratios (ratio_interval's), without an interval."""
    count = len(next(iter(strata.values()), []))
    weights = [1.0] * count if weights is None else list(weights)
    tested = {pair: _stratified_pair(strata[pair[0]], strata[pair[1]], weights) for pair in pairs_to_test(ordered)}
    rejected = fdr_rejections({pair: p for pair, (p, _, _) in tested.items()}, alpha)
    verdicts = []
    for pair, (p, direction, ratio) in tested.items():
        better = stratified_better(pair, direction, higher_is_better) if pair in rejected else None
        verdicts.append(Verdict(pair[0], pair[1], better, ratio, None, None, p))
    return verdicts


def stratified_better(pair, direction, higher_is_better):
    """The better name of a pair the stratified test rejected: by the sign of its
    statistic (above 0: a's values tend to be larger), never by the order the
    caller gave; None when the statistic has no sign."""
    return None if direction == 0 else better_of(pair, direction > 0, higher_is_better)


def _stratified_pair(first, second, weights):
    """(p-value, direction, geometric mean ratio) of one pair over the points both have."""
    common = [i for i in range(len(first)) if first[i] and second[i]]
    if not common:
        return 1.0, 0.0, 1.0
    if len(common) == 1:
        p, effect = pair_test(first[common[0]], second[common[0]])
        direction = effect - 0.5
    else:
        p, direction = stratified_rank_sum([(first[i], second[i]) for i in common], [weights[i] for i in common])
    logs = [(weights[i], math.log(ratio_interval(first[i], second[i]).estimate)) for i in common
            if min(first[i] + second[i]) > 0]
    total = sum(weight for weight, _ in logs)
    ratio = math.exp(sum(weight * value for weight, value in logs) / total) if total else 1.0
    return p, direction, ratio


def beaten_by(verdicts) -> dict[str, set]:
    """name -> the names that beat it (every name of the verdicts present)."""
    found = {}
    for verdict in verdicts:
        found.setdefault(verdict.a, set())
        found.setdefault(verdict.b, set())
        if verdict.better is not None:
            found[verdict.worse].add(verdict.better)
    return found


def leaders(verdicts, names=None) -> list[str]:
    """The names no other name beats, in the order given (names, else the verdicts')."""
    beaten = beaten_by(verdicts)
    return [name for name in (names or beaten) if not beaten.get(name)]


def laggards(verdicts, names=None) -> list[str]:
    """The names that beat no one and are beaten by at least one, in the order given."""
    beaten = beaten_by(verdicts)
    winners = {v.better for v in verdicts if v.better is not None}
    return [name for name in (names or beaten) if beaten.get(name) and name not in winners]


def letter_display(ordered: list[str], verdicts) -> dict[str, str]:
    """Compact letter display: name -> letters, such that two names share a
    letter exactly when their verdict is unresolved, and have no letter in
    common when it is resolved (either way: the letters do not say which is
    better; the order does).

    Piepho's (2004) insert-and-absorb: start from one group holding every name;
    for each resolved pair, every group holding both is replaced by two copies,
    one without each name (insert), and any group inside another is dropped
    (absorb). Letters go to the groups in the order of their best member
    (ordered: best first), so the best name gets "a"."""
    groups = [list(ordered)]
    for verdict in verdicts:
        if verdict.better is None:
            continue
        split = []
        for group in groups:
            if verdict.a in group and verdict.b in group:
                split += [[name for name in group if name != verdict.a], [name for name in group if name != verdict.b]]
            else:
                split.append(group)
        groups = _absorb(split)
    place = {name: index for index, name in enumerate(ordered)}
    groups.sort(key=lambda group: sorted(place[name] for name in group))
    letters = {name: "" for name in ordered}
    for index, group in enumerate(groups):
        for name in group:
            letters[name] += _letter(index)
    return letters


def _absorb(groups):
    """The groups that are not inside another (of equal groups, the first)."""
    sets = [set(group) for group in groups]
    kept = []
    for index, group in enumerate(sets):
        inside = any((group < other) or (group == other and before < index) for before, other in enumerate(sets)
                     if before != index)
        if not inside:
            kept.append(groups[index])
    return kept


def _letter(index):
    """a .. z, then A .. Z, then a1, b1, ...: enough for any report."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return alphabet[index % len(alphabet)] + (str(index // len(alphabet)) if index >= len(alphabet) else "")


def relative_positions(names, verdicts) -> dict:
    """Each name's place among the names (exact Fractions), from the verdicts:
    1 + (the names that beat it) + half of (the names it is not told apart
    from), over (count + 1). So a place lies between 0 and 1, 1/2 is "told apart
    from no one" whatever the count, and when the verdicts form tiers it is the
    tier's average place (fractional ranking) over count + 1."""
    beaten, wins = beaten_by(verdicts), {}
    for verdict in verdicts:
        if verdict.better is not None:
            wins[verdict.better] = wins.get(verdict.better, 0) + 1
    count = len(names)
    return {name: Fraction(2 + 2 * len(beaten.get(name, ())) + (count - 1 - len(beaten.get(name, ()))
                                                                 - wins.get(name, 0)), 2) / (count + 1)
            for name in names}


def can_separate(sizes, alpha=0.05) -> bool:
    """Whether pairwise_verdicts() could resolve any pair at all, whatever the
    values, for samples of these sizes: at best every pair is completely
    separated, and then the false discovery rate procedure resolves them all
    when the smallest p-value the exact rank-sum test reaches for the two
    largest samples (2 / C(m+n, m)) is at most alpha. 4 repetitions a side can
    (2/70); 3 never can (0.1). A lone separated pair among k needs
    2 / C(m+n, m) <= alpha / k (lone_pair_resolvable)."""
    sizes = sorted(sizes)
    if len(sizes) < 2:
        return False
    return 2 / math.comb(sizes[-1] + sizes[-2], sizes[-1]) <= alpha


def min_reps_to_separate(count, alpha=0.05) -> int:
    """The fewest repetitions per server with which pairwise_verdicts() can resolve
    anything among `count` servers."""
    reps = 1
    while not can_separate([reps] * count, alpha):
        reps += 1
    return reps


def lone_pair_resolvable(reps, count, alpha=0.05) -> bool:
    """Whether one pair whose repetitions do not overlap (reps a side) gets a
    verdict among `count` servers when no other pair is resolved: the false
    discovery rate step then asks p <= alpha / pairs. 5 a side suffices for up to
    4 servers (6 pairs), 6 for 7 servers, 7 for 14."""
    pairs = count * (count - 1) // 2
    return pairs >= 1 and 2 / math.comb(2 * reps, reps) <= alpha / pairs


def kendall_tau_over_pairs(beats: set, order: list[list[str]]) -> tuple[float | None, int]:
    """(Kendall's tau, pairs) between a set of resolved pairs (winner, loser) and
    an order given as tiers (best first, ties allowed), over the pairs both
    resolve: the pairs of names present in the order, in different tiers, that
    `beats` resolves. tau = (concordant - discordant) / pairs, 1 when every such
    pair is ordered alike, -1 when every one is reversed; None without a pair."""
    place = {name: index for index, tier in enumerate(order) for name in tier}
    common = [(winner, loser) for winner, loser in beats
              if winner in place and loser in place and place[winner] != place[loser]]
    if not common:
        return None, 0
    concordant = sum(1 for winner, loser in common if place[winner] < place[loser])
    return (2 * concordant - len(common)) / len(common), len(common)
