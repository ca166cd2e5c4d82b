"""Mutant check of the ranking primitives: each mutant below breaks one of
harness/stats.py's verdict functions the way a plausible bug would, and at
least one test of tests/harness/test_verdicts.py must then fail. A mutant no
test notices means the tests do not guard that part of the statistics."""
import pytest

import test_verdicts as checks
from harness import stats


def raw_rejections(p_values, alpha=0.05):
    """No false discovery rate step: every pair at p <= alpha."""
    return {key for key, p in p_values.items() if p <= alpha}


def wrong_side(pair, first_larger, higher_is_better):
    """A significant difference counted as a win for the wrong side."""
    a, b = pair
    return b if first_larger == higher_is_better else a


def neighbours_only(ordered):
    """Only pairs adjacent in the median order are tested (how tiers were cut)."""
    return list(zip(ordered, ordered[1:]))


def first_of_the_pair(pair, direction, higher_is_better):
    """The stratified test's direction ignored: the first name (best by the caller's order) wins."""
    return pair[0]


def rank_sum_alone(first, second):
    """No guard against unequal spreads: the rank-sum test's p-value only."""
    return stats.rank_sum_p_value(first, second), stats._relative_effect(first, second)


MUTANTS = {
    "no false discovery rate step": ("fdr_rejections", raw_rejections),
    "direction ignored (the wrong side wins)": ("better_of", wrong_side),
    "adjacent pairs only": ("pairs_to_test", neighbours_only),
    "stratified test without its direction check": ("stratified_better", first_of_the_pair),
    "rank-sum test without the unequal-spread guard": ("pair_test", rank_sum_alone),
    "letters without the absorb step": ("_absorb", lambda groups: groups),
}

# Fast, hand-worked checks first: a mutant is caught at the first failure.
CHECKS = [
    checks.test_every_pair_separated_gets_a_verdict_and_its_direction,
    checks.test_a_noisy_top_cell_does_not_hide_the_pair_below_it,
    checks.test_a_pair_two_places_apart_is_resolved_when_its_neighbours_are_not,
    checks.test_non_overlapping_repetitions_keep_the_exact_smallest_p_value_whatever_their_spread,
    checks.test_letters_on_textbook_relations,
    checks.test_letters_share_exactly_when_unresolved_on_random_relations,
    checks.test_stratified_verdicts_take_the_direction_from_the_data_not_the_order_given,
    checks.test_a_one_point_scope_reproduces_the_point_verdicts,
    checks.test_unequal_spreads_and_counts_give_a_false_verdict_in_at_most_5_percent_of_pairs,
    checks.test_null_with_a_noisy_cell_gives_a_false_verdict_at_at_most_5_percent_of_points,
    checks.test_with_some_pairs_different_the_false_discovery_rate_stays_at_5_percent,
    checks.test_a_wide_cell_between_two_separated_ones_does_not_hide_them,
]


def first_failure():
    """The name of the first check that fails, or None."""
    for check in CHECKS:
        try:
            check()
        except Exception:  # an assertion, or a check that cannot even find what it looks for
            return check.__name__
    return None


@pytest.mark.parametrize("mutant", MUTANTS)
def test_every_mutant_of_the_ranking_primitives_fails_a_test(mutant, monkeypatch):
    name, replacement = MUTANTS[mutant]
    monkeypatch.setattr(stats, name, replacement)
    assert first_failure() is not None, f"no test notices the mutant: {mutant}"
