"""Statistics for the harness: pure functions, standard library only, no I/O.

Repetitions are few (typically 5 to 20) and benchmark figures are skewed (a
noisy neighbour only ever makes things slower), so the centre is the median and
its uncertainty the distribution-free order-statistic interval (median_ci),
which assumes no distribution and declines when there are too few values.

Latency histograms are the load generator's: lists of [low_ns, high_ns, count]
buckets, each bucket standing for the values low..high inclusive."""
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
    first, second = [float(v) for v in first], [float(v) for v in second]
    if not first or not second:
        raise ValueError("rank-sum test of an empty sample")
    doubled = _doubled_midranks(first + second)
    observed = sum(doubled[:len(first)])
    distribution = _rank_sum_distribution(tuple(sorted(doubled)), len(first))
    centre = len(first) * (len(doubled) + 1)  # the mean of the doubled rank sum
    extreme = sum(count for total, count in distribution.items()
                  if abs(total - centre) >= abs(observed - centre))
    return extreme / math.comb(len(doubled), len(first))


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


def tiers_by_test(samples: dict[str, list[float]], higher_is_better: bool, alpha=0.05) -> list[list[str]]:
    """Tiers of names, best first, from name -> per-repetition values.

    Two names are in different tiers only when the rank-sum test tells them apart:
    every pair is tested (rank_sum_p_value, exact), the false discovery rate over
    those comparisons is held at alpha (fdr_rejections), and the names, sorted by
    median (best first; equal medians by name), are cut as cut_where_separated()
    says. The chance that names with one distribution are split is at most alpha
    (tests/harness/test_stats.py simulates it)."""
    sign = -1 if higher_is_better else 1
    ordered = sorted(samples, key=lambda name: (sign * median(samples[name]), name))
    pairs = [(a, b) for i, a in enumerate(ordered) for b in ordered[i + 1:]]
    rejected = fdr_rejections({pair: rank_sum_p_value(samples[pair[0]], samples[pair[1]]) for pair in pairs},
                              alpha)
    return cut_where_separated(ordered, {(a, b) for a, b in rejected
                                         if _ahead(samples[a], samples[b], higher_is_better)})


def tiers_by_stratified_test(strata: dict[str, list], ordered: list[str], higher_is_better: bool,
                             weights=None, alpha=0.05) -> list[list[str]]:
    """Tiers over several points at once: strata maps each name to its values per
    point (a list per point, None where it has no result there); ordered is the
    names best first by whatever score the caller ranks by. Each pair is tested
    by stratified_rank_sum() over the points where both have results (weights:
    one per point, default 1), the false discovery rate is held at alpha, and
    cut_where_separated() cuts."""
    def test(first, second):
        points = range(len(strata[first]))
        weight = [1.0] * len(points) if weights is None else weights
        common = [i for i in points if strata[first][i] and strata[second][i]]
        if not common:
            return 1.0, 0.0
        return stratified_rank_sum([(strata[first][i], strata[second][i]) for i in common], [weight[i] for i in common])

    tested = {(a, b): test(a, b) for i, a in enumerate(ordered) for b in ordered[i + 1:]}
    rejected = fdr_rejections({pair: p for pair, (p, _) in tested.items()}, alpha)
    return cut_where_separated(ordered, {pair for pair in rejected
                                         if (tested[pair][1] > 0) == higher_is_better and tested[pair][1] != 0})


def cut_where_separated(ordered, separated) -> list[list[str]]:
    """Tiers from names best first: a cut between two places only when every name
    above it is separated from (significantly better than) every name below it.
    So whichever two names end in different tiers, a test separated them."""
    tiers = []
    for index, name in enumerate(ordered):
        above, below = ordered[:index], ordered[index:]
        if tiers and not all((a, b) in separated for a in above for b in below):
            tiers[-1].append(name)
        else:
            tiers.append([name])
    return tiers


def _ahead(first, second, higher_is_better):
    """Whether first's values are typically on the better side of second's: the
    ratio of their medians (ratio_interval)."""
    ratio = ratio_interval(first, second).estimate
    return ratio > 1 if higher_is_better else ratio < 1


def can_separate(sizes, alpha=0.05) -> bool:
    """Whether tiers_by_test() could split anything at all, whatever the values, for
    samples of these sizes: at best every pair is completely separated, and then
    the false discovery rate procedure rejects them all when the smallest p-value
    the exact rank-sum test reaches for the two largest samples (2 / C(m+n, m))
    is at most alpha. 4 repetitions a side can (2/70); 3 never can (0.1)."""
    sizes = sorted(sizes)
    if len(sizes) < 2:
        return False
    return 2 / math.comb(sizes[-1] + sizes[-2], sizes[-1]) <= alpha


def min_reps_to_separate(count, alpha=0.05) -> int:
    """The fewest repetitions per server with which tiers_by_test() can split `count` servers."""
    reps = 1
    while not can_separate([reps] * count, alpha):
        reps += 1
    return reps


def tier_factor(better, worse, higher_is_better, confidence=0.95) -> Ratio:
    """How many times better `better` is than `worse` (throughput: better / worse;
    latency: worse / better), so a factor above 1 always means "better by"."""
    return ratio_interval(better, worse, confidence) if higher_is_better else ratio_interval(worse, better, confidence)


def tier_positions(tiers: list[list[str]]) -> dict[str, Fraction]:
    """Each name's position (1 = best); a tier shares the average of the places
    it spans (fractional ranking): [[a], [b, c], [d]] -> a 1, b 2.5, c 2.5, d 4."""
    positions, place = {}, 1
    for tier in tiers:
        shared = Fraction(2 * place + len(tier) - 1, 2)
        for name in tier:
            positions[name] = shared
        place += len(tier)
    return positions


def _tier_index(order):
    index = {}
    for position, tier in enumerate(order):
        for name in tier:
            if name in index:
                raise ValueError(f"{name!r} appears twice in one order")
            index[name] = position
    return index


def kendall_tau_b(order_a: list[list[str]], order_b: list[list[str]]) -> float | None:
    """Kendall's tau-b between two orders given as tiers (best first, ties allowed),
    over the names present in both: 1 same order, -1 reversed, 0 unrelated.
    tau-b = (concordant - discordant) / sqrt((pairs - tied in a) * (pairs - tied in b)).
    None when it is undefined: fewer than 2 common names, or every common name
    tied in one of the orders (nothing to agree or disagree with)."""
    position_a, position_b = _tier_index(order_a), _tier_index(order_b)
    common = sorted(set(position_a) & set(position_b))
    if len(common) < 2:
        return None
    concordant = discordant = tied_a = tied_b = pairs = 0
    for i, first in enumerate(common):
        for second in common[i + 1:]:
            pairs += 1
            delta_a = position_a[first] - position_a[second]
            delta_b = position_b[first] - position_b[second]
            tied_a += delta_a == 0
            tied_b += delta_b == 0
            if delta_a * delta_b > 0:
                concordant += 1
            elif delta_a * delta_b < 0:
                discordant += 1
    denominator = math.sqrt((pairs - tied_a) * (pairs - tied_b))
    if denominator == 0:
        return None
    return (concordant - discordant) / denominator
