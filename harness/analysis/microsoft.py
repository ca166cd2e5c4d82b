"""How far a ranking agrees with Microsoft's documented order of the Winsock
models (models.microsoft_order): Kendall's tau over the pairs both resolve,
and why a ranking has none."""
from harness import models, stats
from harness.analysis.rankings import Ranking


MIN_MODELS_FOR_TAU = 4
MIN_PAIRS_FOR_TAU = 3


def microsoft_models_in(ranking: Ranking) -> list[str]:
    """The models of Microsoft's order (those with a microsoft_rank) that the ranking ranks."""
    known = {name for tier in models.microsoft_order() for name in tier}
    return [name for name in ranking.order if name in known]


def microsoft_pairs(ranking: Ranking) -> tuple[float | None, int]:
    """(Kendall's tau, pairs) between the ranking's resolved verdicts and
    Microsoft's documented order, over the pairs both resolve
    (stats.kendall_tau_over_pairs): a pair Microsoft ties (thread and select) or
    the run leaves unresolved says nothing, and a model without microsoft_rank
    (reference-epoll, eventselect) drops out."""
    beats = {(v.better, v.worse) for v in ranking.verdicts if v.better is not None}
    return stats.kendall_tau_over_pairs(beats, models.microsoft_order())


def agreement_with_microsoft(ranking: Ranking) -> float | None:
    """Kendall's tau over the pairs both the ranking and Microsoft's order resolve
    (microsoft_pairs); None when no_tau_reason() gives a reason."""
    if len(microsoft_models_in(ranking)) < MIN_MODELS_FOR_TAU:
        return None
    tau, pairs = microsoft_pairs(ranking)
    return tau if pairs >= MIN_PAIRS_FOR_TAU else None


def no_tau_reason(ranking: Ranking) -> str | None:
    """Why a ranking has no tau, in words; None when it has one. Below 4 models tau
    means nothing: with 2 it can only be +1 or -1 (a coin toss reads as "strong
    agreement"), with 3 it takes 4 values whose chance levels are 1/6 to 1/3;
    likewise over fewer than 3 pairs resolved by both."""
    models_in = microsoft_models_in(ranking)
    if len(models_in) < MIN_MODELS_FOR_TAU:
        return (f"only {len(models_in)} Winsock model(s) ranked, and a rank correlation needs at least "
                f"{MIN_MODELS_FOR_TAU} to mean anything")
    _, pairs = microsoft_pairs(ranking)
    if pairs < MIN_PAIRS_FOR_TAU:
        return (f"only {pairs} pair(s) of Winsock models resolved by both the run and Microsoft's order "
                f"(at least {MIN_PAIRS_FOR_TAU} needed)")
    return None
