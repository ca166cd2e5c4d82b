"""Numbers, dates, estimates and rankings as text: one way of writing each, for every section."""
import math
from datetime import datetime, timezone
from pathlib import Path

from harness import models, stats

def number(value):
    """For humans: 3 significant digits, thousands separators (123456 -> "123,000", 0.01234 -> "0.0123")."""
    if value is None or not finite(value):
        return "–"
    if value == 0:
        return "0"
    rounded = round(value, 2 - math.floor(math.log10(abs(value))))
    # Rounding may carry into the next power of ten (99.96 -> 100.0): count the digits again.
    decimals = max(0, 2 - math.floor(math.log10(abs(rounded))))
    return f"{rounded:,.{decimals}f}"


def date_text(text):
    if not text:
        return "date unknown"
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return str(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M")


def finite(value):
    return isinstance(value, (int, float)) and math.isfinite(value)



def one_line(text):
    return " ".join(str(text or "no reason recorded").split())


def relative(path, root):
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)



def format_factor(factor):
    """"iocp 1.42× [1.31, 1.55] thread" (the interval omitted when there is none)."""
    interval = "" if factor.low is None else f" [{factor.low:.2f}, {factor.high:.2f}]"
    return f"{factor.better} {factor.ratio:.2f}×{interval} {factor.worse}"


BEST_FIRST = {"throughput": "highest throughput first", "p99": "lowest p99 latency first"}


def lettered(order, letters):
    """"iocp (a), overlapped (ab), select (b)": names best first, each with its letters
    (stats.letter_display: sharing a letter, not told apart; none in common, told apart)."""
    return ", ".join(f"{name} ({letters[name]})" for name in order)


def ranking_text(order, letters, metric):
    """"iocp (a), overlapped (ab), select (b); lowest p99 latency first": best first in words, so a
    latency ranking does not read as "greater latency"."""
    return f"{lettered(order, letters)}; {BEST_FIRST.get(metric, 'best first')}"


def format_family(order, letters):
    """The ranking within each family of two or more ranked models, with the ranking's letters:
    "completion: iocp (a), overlapped (b); readiness: select (a), wsapoll (a)" ("–" when no family has two)."""
    grouped = models.by_family(order)
    parts = [f"{family}: {lettered(members, letters)}" for family, members in grouped.items() if len(members) >= 2]
    return "; ".join(parts) or "–"


def names_text(names, none="none"):
    return ", ".join(names) if names else none


def estimate_text(estimate):
    """"1,230 [1,200, 1,260]"; the median alone without an interval (the cell's flags say why)."""
    if estimate is None:
        return "–"
    if not estimate.has_interval:
        return number(estimate.median)
    return f"{number(estimate.median)} [{number(estimate.low)}, {number(estimate.high)}]"


def interval_text(estimate):
    if estimate is None:
        return "–"
    if not estimate.has_interval:
        return too_few_text(estimate.n)
    return f"{number(estimate.low)}–{number(estimate.high)}"


def too_few_text(n):
    return f"too few repetitions for a 95% interval (n={n}, {stats.min_reps_for_interval()} needed)"


def median_text(estimate, factor=1.0):
    return "–" if estimate is None else number(estimate.median * factor)

