"""Verdicts between named samples, on the metrics the harness ranks: the one
definition the report's rankings and option comparisons (harness.analysis)
and the adaptive rounds (harness.run.rounds) share, so a run spends its
rounds on the very verdicts its report will give.

A sample is a name's per-repetition values of one metric; what a cell
contributes is capped_for_ranking() of its figures (the rate workload's
throughput counts only below the requested rate); a cell's option set is
named by options_label(), and the cells of one server compared across option
sets share a setting_key()."""
import json
from dataclasses import dataclass

from harness import stats
from harness.records import RATE_SHORTFALL_LIMIT


METRICS = (("throughput", True), ("p99", False))  # (name, higher is better): the metrics ranked and compared


def capped_for_ranking(values, metric, workload, requested_rate):
    """The per-repetition values a cell is ranked on.

    The rate workload's throughput is set by the load generator, not the server:
    every server that keeps up achieves the requested rate, give or take noise
    far below a percent, and ranking on that noise would be meaningless. So the
    figures are capped at the saturation mark (95% of the requested rate): all
    servers that keep up are alike, and only a shortfall ranks a server lower."""
    if metric == "throughput" and workload == "rate" and requested_rate:
        cap = RATE_SHORTFALL_LIMIT * requested_rate
        return [min(figure, cap) for figure in values]
    return list(values)


@dataclass
class Factor:
    """`better` is `ratio` times better than `worse` (throughput: better/worse;
    latency: worse/better), low..high its 95% interval (None when there is none)."""
    better: str
    worse: str
    ratio: float
    low: float | None
    high: float | None


def verdict_factor(verdict: stats.Verdict, higher_is_better: bool) -> Factor | None:
    """A resolved verdict as "how many times better" (above 1 whichever the metric);
    None for an unresolved one."""
    if verdict.better is None:
        return None
    # ratio is a over b: it says "better by" as it stands when a is better and higher is better,
    # or when b is better and lower is better; otherwise its inverse does
    as_is = (verdict.better == verdict.a) == higher_is_better
    if as_is:
        return Factor(verdict.better, verdict.worse, verdict.ratio, verdict.low, verdict.high)
    flip = (lambda v: None if v is None else 1 / v)
    return Factor(verdict.better, verdict.worse, 1 / verdict.ratio, flip(verdict.high), flip(verdict.low))


@dataclass
class Verdicts:
    """Names compared with each other at one point (servers) or one setting
    (option sets): every pair's verdict, best first by median, with letters."""
    metric: str
    order: list[str]                # best first by median
    medians: dict[str, float]
    verdicts: list[stats.Verdict]   # every pair, a before b in `order`
    letters: dict[str, str]         # stats.letter_display
    separable: bool = True          # False: too few repetitions for any verdict (stats.can_separate)
    reps: int = 0                   # the fewest repetitions of a name compared here

    @property
    def higher_is_better(self):
        return dict(METRICS)[self.metric]

    @property
    def resolved(self):
        return [v for v in self.verdicts if v.better is not None]

    def factors(self):
        """The resolved verdicts as Factors, in the verdicts' order."""
        return [verdict_factor(v, self.higher_is_better) for v in self.resolved]

    def leaders(self):
        return stats.leaders(self.verdicts, self.order)

    def laggards(self):
        return stats.laggards(self.verdicts, self.order)


def compare_samples(samples: dict, metric: str) -> Verdicts:
    """Verdicts over name -> values (stats.pairwise_verdicts), with the letters."""
    higher_is_better = dict(METRICS)[metric]
    verdicts = stats.pairwise_verdicts(samples, higher_is_better) if samples else []
    order = stats.order_by_median(samples, higher_is_better)
    sizes = [len(values) for values in samples.values()]
    return Verdicts(metric, order, {name: stats.median(values) for name, values in samples.items()}, verdicts,
                    stats.letter_display(order, verdicts), separable=len(sizes) < 2 or stats.can_separate(sizes),
                    reps=min(sizes, default=0))


def options_label(server_args):
    return " ".join(server_args) or "no options"


def setting_key(server, variant, workload, loadgen_args):
    """What one server's cells share when they differ only in their options: the
    server, variant, workload and load generator settings."""
    return server, variant, workload, json.dumps(loadgen_args, sort_keys=True)
