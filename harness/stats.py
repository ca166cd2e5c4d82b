"""Statistics for the harness: pure functions, standard library only, no I/O.

Repetitions are few (typically 5 to 20) and benchmark figures are skewed (a
noisy neighbour only ever makes things slower), so the centre is the median and
its uncertainty the distribution-free order-statistic interval (median_ci),
which assumes no distribution and declines when there are too few values.

Latency histograms are the load generator's: lists of [low_ns, high_ns, count]
buckets, each bucket standing for the values low..high inclusive."""
import math
import random
import statistics
from fractions import Fraction


def median(values) -> float:
    values = list(values)
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


# What the report says about median_ci(), backed by tests/harness/test_stats.py
# (which checks 93-97% at n = 6, 10, 20 for normal, lognormal and exponential values;
# 20,000 trials each measured 94.3-95.2%).
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


def _order_coverage(n, depth):
    """P(x(depth) <= median <= x(n + 1 - depth)) for n values of a continuous distribution."""
    below = sum(math.comb(n, i) for i in range(depth))
    return 1 - 2 * Fraction(below, 2 ** n)


def _resampled(statistic, values, rng):
    """statistic() of one resample of values. The median, by far the most used,
    takes a shortcut (sort and pick) worth a factor of two: a report computes
    thousands of intervals. It draws the same resample, so gives the same result."""
    sample = rng.choices(values, k=len(values))
    if statistic is median:
        sample.sort()
        middle = len(sample) // 2
        return float(sample[middle]) if len(sample) % 2 else (sample[middle - 1] + sample[middle]) / 2
    return float(statistic(sample))


def _quantile_interval(sorted_estimates, confidence):
    """The two tail quantiles of sorted bootstrap estimates, by nearest rank."""
    tail = (1 - confidence) / 2
    count = len(sorted_estimates)
    low_index = min(count - 1, max(0, math.floor(tail * count)))
    high_index = min(count - 1, max(0, math.ceil((1 - tail) * count) - 1))
    return sorted_estimates[low_index], sorted_estimates[high_index]


def bootstrap_ratio_ci(base, new, statistic=median, confidence=0.95, resamples=2000, seed=0) -> tuple[float, float]:
    """Percentile bootstrap interval of statistic(new) / statistic(base), each side
    resampled independently (they are separate repetitions, not pairs)."""
    base, new = list(base), list(new)
    if not base or not new:
        raise ValueError("bootstrap of no values")
    rng = random.Random(seed)
    ratios = []
    for _ in range(resamples):
        base_value = _resampled(statistic, base, rng)
        ratios.append(_ratio(_resampled(statistic, new, rng), base_value))
    ratios.sort()
    return _quantile_interval(ratios, confidence)


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


def merge_histograms(histograms) -> list[list[int]]:
    """Several histograms as one: counts of equal buckets added, buckets sorted.
    The result is what one histogram recording all the values would hold."""
    counts = {}
    for histogram in histograms:
        for low, high, count in histogram or []:
            counts[(low, high)] = counts.get((low, high), 0) + count
    return [[low, high, count] for (low, high), count in sorted(counts.items()) if count]


def histogram_percentile(histogram, percentile, maximum=None) -> float:
    """The percentile (0..100) of a histogram's values, in ns.

    Nearest rank: the value of rank ceil(percentile/100 * count) (at least 1),
    the definition the load generator uses, so a repetition's figures here equal
    its own report. A histogram knows a value only to its bucket, and this
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


def rank_with_ties(estimates: dict[str, tuple[float, float, float]], higher_is_better: bool) -> list[list[str]]:
    """Tiers of names, best first, from name -> (median, ci_low, ci_high).

    Names are sorted by median (best first; equal medians by name, so the order
    is deterministic). The best remaining name leads a new tier, and the names
    after it join that tier while their interval overlaps the leader's; the first
    that does not leads the next tier. Stopping at the first non-overlap keeps
    tiers in median order: a name with a wide interval never jumps ahead of a
    better one that was separated from the leader."""
    sign = -1 if higher_is_better else 1
    ordered = sorted(estimates, key=lambda name: (sign * estimates[name][0], name))
    tiers = []
    for name in ordered:
        if tiers and _overlap(estimates[tiers[-1][0]], estimates[name]):
            tiers[-1].append(name)
        else:
            tiers.append([name])
    return tiers


def _overlap(a, b):
    return a[1] <= b[2] and b[1] <= a[2]


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
