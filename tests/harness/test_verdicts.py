"""harness/stats.py's verdicts: every pair of names tested, the false discovery
rate held, the better side, the letters, leaders and laggards, the stratified
verdicts of a workload, and Kendall's tau over resolved pairs. Hand-worked
tables first, then seeded simulations (tests/harness/test_mutants.py breaks the
primitives on purpose and expects these tests to notice)."""
import itertools
import math
import random
from fractions import Fraction

import pytest

from harness import stats


def verdict_of(verdicts, a, b):
    [found] = [v for v in verdicts if {v.a, v.b} == {a, b}]
    return found


def resolved(verdicts):
    return {frozenset((v.a, v.b)): v.better for v in verdicts if v.better is not None}


def made_up(pairs, names):
    """Verdicts where exactly `pairs` (better, worse) are resolved, for the letters' tests."""
    return [stats.Verdict(a, b, next((w for w, l in pairs if {w, l} == {a, b}), None), 1.0, None, None, 0.5)
            for a, b in itertools.combinations(names, 2)]


# ---- hand-worked tables ----

def test_every_pair_separated_gets_a_verdict_and_its_direction():
    samples = {"a": [100.0 + i for i in range(6)], "b": [200.0 + i for i in range(6)],
               "c": [50.0 + i for i in range(6)]}
    higher = stats.pairwise_verdicts(samples, higher_is_better=True)
    assert resolved(higher) == {frozenset("ab"): "b", frozenset("ac"): "a", frozenset("bc"): "b"}
    lower = stats.pairwise_verdicts(samples, higher_is_better=False)  # latency: the smaller is better
    assert resolved(lower) == {frozenset("ab"): "a", frozenset("ac"): "c", frozenset("bc"): "c"}
    # every pair apart, 6 against 6: the smallest exact p-value, 2 / C(12, 6)
    assert all(v.p == pytest.approx(2 / 924) for v in higher)
    ab = verdict_of(higher, "a", "b")
    assert (ab.a, ab.b) == ("b", "a")  # best first by median
    assert ab.ratio == pytest.approx(200.0 / 100.0, rel=0.02) and ab.low < ab.ratio < ab.high


def test_a_noisy_top_cell_does_not_hide_the_pair_below_it():
    # a's repetitions straddle both others; b and c do not overlap at all
    samples = {"a": [700.0, 800, 1050, 1150, 1300, 1500], "b": [998.0, 999, 1000, 1001, 1002, 1003],
               "c": [898.0, 899, 900, 901, 902, 903]}
    verdicts = stats.pairwise_verdicts(samples, higher_is_better=True)
    assert resolved(verdicts) == {frozenset("bc"): "b"}
    # a's ranks among 12: 1, 2, 9, 10, 11, 12, sum 45 against 39 expected: far from significant
    assert verdict_of(verdicts, "a", "c").p > 0.2 and verdict_of(verdicts, "a", "b").p > 0.2
    order = stats.order_by_median(samples, True)
    assert order == ["a", "b", "c"]  # medians 1100, 1000.5, 900.5
    # groups: {a, b, c} split by (b, c) into {a, c} and {a, b}; {a, b} has the better members: "a"
    assert stats.letter_display(order, verdicts) == {"a": "ab", "b": "a", "c": "b"}
    assert stats.leaders(verdicts, order) == ["a", "b"] and stats.laggards(verdicts, order) == ["c"]


def test_a_pair_two_places_apart_is_resolved_when_its_neighbours_are_not():
    # a and c are far apart, b overlaps both: only the pair that is not adjacent by median differs
    samples = {"a": [100.0 + i for i in range(6)], "b": [90.5, 92.5, 94.5, 100.5, 102.5, 104.5],
               "c": [90.0 + i for i in range(6)]}
    verdicts = stats.pairwise_verdicts(samples, higher_is_better=True)
    assert resolved(verdicts) == {frozenset("ac"): "a"}
    assert stats.letter_display(stats.order_by_median(samples, True), verdicts) == {"a": "a", "b": "ab", "c": "b"}


def test_non_overlapping_repetitions_keep_the_exact_smallest_p_value_whatever_their_spread():
    tight = [1000.0 + i for i in range(5)]
    wide = [100.0, 300.0, 500.0, 700.0, 900.0]  # far noisier, entirely below
    p, effect = stats.pair_test(wide, tight)
    assert p == pytest.approx(2 / 252) and effect == 0.0
    verdicts = stats.pairwise_verdicts({"tight": tight, "wide": wide}, higher_is_better=True)
    assert resolved(verdicts) == {frozenset(("tight", "wide")): "tight"}


def test_brunner_munzel_against_a_hand_worked_table():
    first, second = [1.0, 2, 3, 4, 5, 6], [3.5, 7, 8, 9, 10, 11]
    # placements of first among second: 0, 0, 0, 1, 1, 1 (variance 0.3); of second among first:
    # 3, 6, 6, 6, 6, 6 (variance 1.5). Effect 3 / 36; variance 0.3/216 + 1.5/216 = 1/120;
    # t = (1/12 - 1/2) * sqrt(120) = -4.564; Welch-Satterthwaite df = 6.92.
    p, effect = stats.brunner_munzel(first, second)
    assert effect == pytest.approx(1 / 12)
    assert p == pytest.approx(stats.student_t_two_sided((1 / 12 - 0.5) * math.sqrt(120), 6.923), rel=1e-3)
    assert p == pytest.approx(0.0026657, rel=1e-4)  # also what an independent implementation (SciPy) gives
    assert stats.brunner_munzel([1.0, 2.0], [5.0]) == (1.0, 0.0)  # one value: nothing to say about its spread
    assert stats.brunner_munzel([3.0] * 4, [3.0] * 4) == (1.0, 0.5)


@pytest.mark.parametrize("statistic, freedom, expected", [
    (2.571, 5, 0.05), (2.262, 9, 0.05), (3.169, 10, 0.01), (1.96, 1e7, 0.05), (1.0, 1, 0.5), (0.0, 4, 1.0)])
def test_student_t_matches_the_tables(statistic, freedom, expected):
    assert stats.student_t_two_sided(statistic, freedom) == pytest.approx(expected, abs=2e-4)
    assert stats.student_t_two_sided(-statistic, freedom) == stats.student_t_two_sided(statistic, freedom)


def test_too_few_repetitions_resolve_nothing():
    # 3 against 3: the smallest two-sided rank-sum p-value is 0.1
    verdicts = stats.pairwise_verdicts({"a": [1.0, 2.0, 3.0], "b": [100.0, 200.0, 300.0]}, True)
    assert resolved(verdicts) == {} and verdicts[0].p == pytest.approx(0.1)


@pytest.mark.parametrize("servers, reps", [(2, 4), (3, 4), (7, 4), (10, 4)])
def test_the_repetitions_needed_to_resolve_anything(servers, reps):
    assert stats.min_reps_to_separate(servers) == reps
    assert stats.can_separate([reps] * servers) and not stats.can_separate([reps - 1] * servers)
    apart = {f"s{i}": [1000.0 * 2 ** i + r for r in range(reps)] for i in range(servers)}
    assert len(resolved(stats.pairwise_verdicts(apart, True))) == servers * (servers - 1) // 2
    fewer = {name: values[:-1] for name, values in apart.items()}
    assert resolved(stats.pairwise_verdicts(fewer, True)) == {}


@pytest.mark.parametrize("reps, servers, expected", [(5, 4, True), (5, 5, False), (6, 7, True), (6, 8, False),
                                                     (7, 13, True), (7, 14, False)])
def test_a_lone_separated_pair_is_resolved_only_with_enough_repetitions(reps, servers, expected):
    # low and high do not overlap; every other server spreads over both, so no other pair is resolved
    assert stats.lone_pair_resolvable(reps, servers) == expected
    others = servers - 2
    samples = {f"wide{j}": [-100.0 + 300 * (r + (j + 0.5) / others) / reps for r in range(reps)]
               for j in range(others)}
    samples["low"] = [40.0 + r for r in range(reps)]
    samples["high"] = [60.0 + r for r in range(reps)]
    verdicts = stats.pairwise_verdicts(samples, True)
    assert resolved(verdicts) == ({frozenset(("low", "high")): "high"} if expected else {})


def test_letters_on_textbook_relations():
    names = ["A", "B", "C", "D"]
    assert stats.letter_display(names, made_up([], names)) == dict.fromkeys(names, "a")
    everyone = list(itertools.combinations(names, 2))
    assert stats.letter_display(names, made_up(everyone, names)) == {"A": "a", "B": "b", "C": "c", "D": "d"}
    # A-C, A-D, B-D differ: {ABCD} -> {BCD}, {ABD} -> {BCD}, {AB} ({BD} absorbed by {BCD})
    # -> {CD}, {BC}, {AB}: lettered by their best member
    assert stats.letter_display(names, made_up([("A", "C"), ("A", "D"), ("B", "D")], names)) == \
        {"A": "a", "B": "ab", "C": "bc", "D": "c"}
    # only A differs from everyone: {A} and {BCD}
    assert stats.letter_display(names, made_up([("A", "B"), ("A", "C"), ("A", "D")], names)) == \
        {"A": "a", "B": "b", "C": "b", "D": "b"}
    # the chain A > B > C where only A vs C is shown
    assert stats.letter_display(names[:3], made_up([("A", "C")], names[:3])) == {"A": "a", "B": "ab", "C": "b"}


def test_letters_share_exactly_when_unresolved_on_random_relations():
    rng = random.Random(7)
    names = [f"n{i}" for i in range(7)]
    for _ in range(300):
        different = [pair for pair in itertools.combinations(names, 2) if rng.random() < 0.4]
        letters = stats.letter_display(names, made_up(different, names))
        for a, b in itertools.combinations(names, 2):
            share = bool(set(letters[a]) & set(letters[b]))
            assert share == ((a, b) not in different), (different, letters, a, b)


def test_relative_positions_are_the_fractional_ranks_when_the_verdicts_form_tiers():
    names = ["a", "b", "c", "d"]
    verdicts = made_up([("a", "b"), ("a", "c"), ("a", "d"), ("b", "d"), ("c", "d")], names)  # a, then b = c, then d
    assert stats.relative_positions(names, verdicts) == {"a": Fraction(1, 5), "b": Fraction(1, 2), "c": Fraction(1, 2),
                                                         "d": Fraction(4, 5)}
    assert set(stats.relative_positions(names, made_up([], names)).values()) == {0.5}


def test_leaders_and_laggards():
    names = ["a", "b", "c", "d"]
    verdicts = made_up([("a", "c"), ("b", "c")], names)
    assert stats.leaders(verdicts, names) == ["a", "b", "d"]
    assert stats.laggards(verdicts, names) == ["c"]
    assert stats.laggards(made_up([], names), names) == []  # nothing resolved: no one lags


def test_kendall_tau_over_the_pairs_both_resolve():
    order = [["iocp"], ["overlapped"], ["thread", "select"], ["asyncselect"]]
    assert stats.kendall_tau_over_pairs({("iocp", "overlapped"), ("iocp", "asyncselect")}, order) == (1.0, 2)
    # thread vs select is tied in the order: it says nothing; reference-epoll is not in it
    beats = {("iocp", "overlapped"), ("asyncselect", "iocp"), ("thread", "select"), ("reference-epoll", "iocp"),
             ("select", "asyncselect")}
    assert stats.kendall_tau_over_pairs(beats, order) == (pytest.approx((2 - 1) / 3), 3)
    assert stats.kendall_tau_over_pairs({("asyncselect", "iocp")}, order) == (-1.0, 1)
    assert stats.kendall_tau_over_pairs(set(), order) == (None, 0)


# ---- stratified verdicts (a workload's points) ----

def test_stratified_verdicts_take_the_direction_from_the_data_not_the_order_given():
    slow = [[100.0 + i for i in range(6)], [1000.0 + i for i in range(6)]]
    fast = [[v * 1.5 for v in point] for point in slow]
    strata = {"fast": fast, "slow": slow}
    for ordered in (["fast", "slow"], ["slow", "fast"]):
        [verdict] = stats.stratified_verdicts(strata, ordered, higher_is_better=True)
        assert verdict.better == "fast" and verdict.ratio == pytest.approx(1.5 if ordered[0] == "fast" else 1 / 1.5)
        [latency] = stats.stratified_verdicts(strata, ordered, higher_is_better=False)
        assert latency.better == "slow"


def test_a_one_point_scope_reproduces_the_point_verdicts():
    samples = {"a": [700.0, 800, 1050, 1150, 1300, 1500], "b": [998.0, 999, 1000, 1001, 1002, 1003],
               "c": [898.0, 899, 900, 901, 902, 903]}
    ordered = stats.order_by_median(samples, True)
    point = stats.pairwise_verdicts(samples, True)
    scope = stats.stratified_verdicts({name: [values] for name, values in samples.items()}, ordered, True)
    assert [(v.a, v.b, v.better, v.p) for v in scope] == [(v.a, v.b, v.better, v.p) for v in point]


def test_servers_missing_at_a_point_are_compared_where_both_have_results():
    strata = {"a": [[10.0 + i for i in range(6)], None, [10.0 + i for i in range(6)]],
              "b": [[1.0 + i / 10 for i in range(6)], [5.0] * 6, [1.0 + i / 10 for i in range(6)]],
              "c": [None, [5.0] * 6, None]}  # never at a point with a
    verdicts = stats.stratified_verdicts(strata, ["a", "b", "c"], True)
    assert verdict_of(verdicts, "a", "b").better == "a"
    assert verdict_of(verdicts, "a", "c").better is None and verdict_of(verdicts, "a", "c").p == 1.0


# ---- seeded simulations ----

def lognormal_sigma(cv):
    return math.sqrt(math.log(1 + cv * cv))


def draw(rng, centre, cv=0.05, reps=6):
    """reps repetitions of a figure whose median is centre, lognormal noise of this coefficient of variation."""
    sigma = lognormal_sigma(cv)
    return [centre * rng.lognormvariate(0, sigma) for _ in range(reps)]


def false_verdicts(verdicts, truth, higher_is_better=True):
    """Verdicts between equal names, or for the worse of two different ones."""
    sign = 1 if higher_is_better else -1
    return [v for v in verdicts if v.better is not None
            and (truth[v.a] == truth[v.b] or sign * (truth[v.better] - truth[v.worse]) < 0)]


def tolerance(rate, trials, z=2.33):
    """The one-sided 99% binomial margin above a rate for this many trials."""
    return z * math.sqrt(rate * (1 - rate) / trials)


def share_with_a_false_verdict(rng, make, trials):
    hits = 0
    for _ in range(trials):
        samples, truth = make(rng)
        hits += bool(false_verdicts(stats.pairwise_verdicts(samples, True), truth))
    return hits / trials


def noisy_cell_among_tight_ones(rng):
    """Four servers, one median: one far noisier (CV 0.75, 10 repetitions) than the others (CV 0.05, 6)."""
    samples = {"noisy": draw(rng, 1000, cv=0.75, reps=10)}
    samples.update({f"tight{i}": draw(rng, 1000, cv=0.05, reps=6) for i in range(3)})
    return samples, dict.fromkeys(samples, 1000)


def test_null_with_a_noisy_cell_gives_a_false_verdict_at_at_most_5_percent_of_points():
    # without the false discovery rate step about 12% of points get one (test_mutants.py)
    trials = 1500
    share = share_with_a_false_verdict(random.Random("noisy-null"), noisy_cell_among_tight_ones, trials)
    assert share <= 0.05 + tolerance(0.05, trials)


def noisy_pair(rng):
    """One median, one cell far noisier and with fewer repetitions (6 at CV 0.75 against 10 at CV 0.05): the
    rank-sum test alone calls about 17% of these pairs different."""
    samples = {"noisy": draw(rng, 1000, cv=0.75, reps=6), "tight": draw(rng, 1000, cv=0.05, reps=10)}
    return samples, dict.fromkeys(samples, 1000)


def test_unequal_spreads_and_counts_give_a_false_verdict_in_at_most_5_percent_of_pairs():
    trials = 3000
    share = share_with_a_false_verdict(random.Random("noisy-pair"), noisy_pair, trials)
    assert share <= 0.05 + tolerance(0.05, trials)


@pytest.mark.parametrize("models", [2, 4, 10])
def test_equal_servers_get_a_verdict_at_at_most_5_percent_of_points(models):
    def equal(rng):
        samples = {f"m{i}": draw(rng, 1000) for i in range(models)}
        return samples, dict.fromkeys(samples, 1000)
    trials = 400 if models == 10 else 1000
    assert share_with_a_false_verdict(random.Random(f"null-{models}"), equal, trials) <= \
        0.05 + tolerance(0.05, trials)


def test_with_some_pairs_different_the_false_discovery_rate_stays_at_5_percent():
    # nine equal servers and one 1.5 times faster: 9 true differences among 45 pairs. Without the false
    # discovery rate step, about 13% of the verdicts are false (the 36 equal pairs at ~4% each).
    rng = random.Random("partial-null")
    trials, shares, true_found = 300, [], 0
    for _ in range(trials):
        truth = {f"m{i}": 1000.0 for i in range(9)}
        truth["fast"] = 1500.0
        verdicts = stats.pairwise_verdicts({name: draw(rng, centre) for name, centre in truth.items()}, True)
        made = [v for v in verdicts if v.better is not None]
        shares.append(len(false_verdicts(verdicts, truth)) / max(1, len(made)))
        true_found += sum(1 for v in made if "fast" in (v.a, v.b) and v.better == "fast")
    mean = sum(shares) / trials
    spread = math.sqrt(sum((s - mean) ** 2 for s in shares) / (trials - 1))
    assert mean <= 0.05 + 2.33 * spread / math.sqrt(trials)
    assert true_found / (9 * trials) >= 0.95  # and the real differences are found


def test_a_wide_cell_between_two_separated_ones_does_not_hide_them():
    # medians b 1100 > wide 1000 > c 900; wide's repetitions (CV 0.5) straddle both. Tiers cut only where
    # every name above beats every one below called all three "tied"; b vs c is resolved nearly always.
    rng = random.Random("wide-cell")
    trials, found, wrong = 400, 0, 0
    for _ in range(trials):
        samples = {"b": draw(rng, 1100, cv=0.03), "wide": draw(rng, 1000, cv=0.5), "c": draw(rng, 900, cv=0.03)}
        verdict = verdict_of(stats.pairwise_verdicts(samples, True), "b", "c")
        found += verdict.better == "b"
        wrong += verdict.better == "c"
    assert found / trials >= 0.95 and wrong == 0


@pytest.mark.parametrize("models", [2, 4, 10])
def test_a_20_percent_difference_at_6_repetitions_is_resolved_in_90_percent_of_trials(models):
    # m0, m1, ... each 20% faster than the next, 6 repetitions with 5% noise: every pair resolved, rightly
    rng = random.Random(f"power-{models}")
    trials = 300
    truth = {f"m{i}": 1000 / 1.2 ** i for i in range(models)}
    complete = 0
    for _ in range(trials):
        verdicts = stats.pairwise_verdicts({name: draw(rng, centre) for name, centre in truth.items()}, True)
        assert not false_verdicts(verdicts, truth)
        complete += all(v.better is not None for v in verdicts)
    assert complete / trials >= 0.90


POINT_SCALES = [1000, 8000, 60000, 400]  # a workload's points differ by orders of magnitude


def stratified(rng, speedups, higher_is_better=True):
    """stratified_verdicts over POINT_SCALES for m0, m1, ... where m_i is speedups[i] times the baseline
    at every point; names given in reverse so that the verdict cannot lean on the order."""
    names = [f"m{i}" for i in range(len(speedups))]
    strata = {name: [draw(rng, scale * speedup) for scale in POINT_SCALES] for name, speedup in zip(names, speedups)}
    return stats.stratified_verdicts(strata, list(reversed(names)), higher_is_better)


@pytest.mark.parametrize("models", [2, 10])
def test_stratified_verdicts_of_equal_servers_are_rare(models):
    rng = random.Random(f"stratified-null-{models}")
    trials = 300 if models == 10 else 1000
    any_verdict = sum(bool(resolved(stratified(rng, [1.0] * models))) for _ in range(trials))
    assert any_verdict / trials <= 0.05 + tolerance(0.05, trials)


def test_stratified_verdicts_find_a_5_percent_difference_that_one_point_cannot():
    # 5% apart with 5% noise: 6 repetitions at one point rarely resolve it; four points usually do
    rng = random.Random("stratified-power")
    trials = 400
    one_point = sum(verdict_of(stats.pairwise_verdicts({"m0": draw(rng, 1050), "m1": draw(rng, 1000)}, True),
                               "m0", "m1").better == "m0" for _ in range(trials))
    four = [stratified(rng, [1.05, 1.0])[0].better for _ in range(trials)]
    assert four.count("m0") / trials >= 0.80 and four.count("m0") > 1.5 * one_point
    assert "m1" not in four
    latency = [stratified(rng, [1.05, 1.0], higher_is_better=False)[0].better for _ in range(100)]
    assert latency.count("m1") >= 80 and "m0" not in latency  # lower is better: the smaller figures win
