"""What a cell's repetitions say besides their figures: the flags that the cell
may measure the load generator rather than the server (saturation_flags), and
the notes on how the repetitions were taken (notes): slow service or stop,
placement not held, load generator re-runs, a busy machine. Each takes the
cell's ok records (harness.records.ok_records)."""
from harness import stats
from harness.records import (LOADGEN_CPU_LIMIT, RATE_EXCESS_LIMIT, RATE_SHORTFALL_LIMIT, busiest_loadgen, nested,
                             record_field)


def saturation_flags(ok, requested_rate, achieved):
    """Why a cell may measure the load generator rather than the server. Each flag
    takes the worst repetition: one saturated repetition already drags the median."""
    reasons = []
    found = [busiest_loadgen(r.loadgen) for r in ok]
    found = [(share, host) for share, host in found if share is not None]
    if found and max(found, key=lambda f: f[0])[0] >= LOADGEN_CPU_LIMIT:
        share, host = max(found, key=lambda f: f[0])
        source = next((part for part in nested(ok[0].loadgen, "hosts") or [] if part.get("host") == host), ok[0].loadgen)
        threads = max(1, nested(source, "config", "threads") or 1)
        per = "of a core" if threads == 1 else f"of a core per thread ({threads} threads)"
        reasons.append(f"loadgen CPU {share * 100:.0f}% {per}" + (f" on client host {host}" if host else ""))
    if any(nested(record_field(r, "loadgen_autoscale"), "saturated") for r in ok) and not reasons:
        reasons.append("loadgen saturated with the most threads available")
    if requested_rate and achieved:
        reasons += _rate_flags([a / requested_rate for a in achieved])
    return reasons


def _rate_flags(shares):
    """Under- and over-delivery of the rate workload, from the achieved shares of the
    requested rate. A flag says whether it comes from the median repetition (the
    figure the tables show) or only from the worst one."""
    middle, flags = stats.median(shares), []
    for kind, worst, outside in (("under-delivery", min(shares), lambda share: share < RATE_SHORTFALL_LIMIT),
                                 ("over-delivery", max(shares), lambda share: share > RATE_EXCESS_LIMIT)):
        if outside(middle):
            flags.append(f"{kind}: the median repetition achieved {middle * 100:.0f}% of the requested rate "
                         f"(worst repetition {worst * 100:.0f}%)")
        elif outside(worst):
            flags.append(f"{kind} in the worst repetition only: {worst * 100:.0f}% of the requested rate "
                         f"(median {middle * 100:.0f}%)")
    return flags


# The threshold of a slow service, for records whose stats line does not carry
# it (made before servers/core/stats.c wrote slow_service_ms): what the servers
# used then. A newer record is judged by the threshold its own server used.
SLOW_SERVICE_MS_UNRECORDED = 1000
# The contract's limit on a stop (servers/CONTRACT.md, "How a server stops"),
# against the server's own stop_s: the request to its stats line.
SLOW_STOP_S = 2.0


def _over(ok, field, limit_of):
    """(repetitions whose server stats line has `field` over its limit, the worst of
    them, that one's limit); limit_of(server_stats) gives a repetition's limit."""
    over = []
    for record in ok:
        value = nested(record.server_stats, field)
        if isinstance(value, (int, float)) and value > limit_of(record.server_stats):
            over.append((value, limit_of(record.server_stats)))
    worst, limit = max(over, default=(None, None))
    return len(over), worst, limit


def slow_service_ms_of(server_stats):
    """The delay past which the server itself calls its service slow (the stats
    line's slow_service_ms, beside worst_service_delay_ms)."""
    recorded = nested(server_stats, "slow_service_ms")
    return recorded if isinstance(recorded, (int, float)) else SLOW_SERVICE_MS_UNRECORDED


def _slow_service(ok):
    """The server said a readiness waited past its threshold for its loop: the
    model is past its scale there."""
    count, worst, limit = _over(ok, "worst_service_delay_ms", slow_service_ms_of)
    if not count:
        return []
    return [f"slow service: in {count} of {len(ok)} repetitions a readiness waited up to {worst / 1000:.1f} s "
            f"for the server's loop (over {limit / 1000:g} s: unusable at this scale)"]


def _slow_stop(ok):
    count, worst, _ = _over(ok, "stop_s", lambda _: SLOW_STOP_S)
    if not count:
        return []
    return [f"slow stop: in {count} of {len(ok)} repetitions the server took up to {worst:.1f} s from the stop "
            f"request to its stats line (the contract allows {SLOW_STOP_S:g} s)"]


def busy_machines(ok):
    """The `machine` fields of the repetitions taken on a busy machine."""
    machines = [record_field(r, "machine") for r in ok]
    return [m for m in machines if isinstance(m, dict) and m.get("busy")]


def set_aside(all_ok, used):
    """The note on the repetitions taken on a busy machine and left out of
    the figures (harness.records.measured_records), or none."""
    kept = {id(record) for record in used}
    aside = [record_field(r, "machine") for r in all_ok if id(r) not in kept]
    if not aside:
        return []
    others = [m["other_cpu_cores"] for m in aside if isinstance(m.get("other_cpu_cores"), (int, float))]
    most = f"; other processes used up to {max(others):.2f} cores" if others else ""
    return [f"{len(aside)} repetition{'s' if len(aside) > 1 else ''} on a busy machine set aside "
            f"({len(used)} quiet ones kept{most})"]


def _placement_lost(ok):
    """Repetitions whose processes were not where the run's placement put
    them (read back at the start and end of the load: harness.run.placement)."""
    lost = [p for p in (record_field(r, "placement") for r in ok) if isinstance(p, dict) and p.get("held") is False]
    if not lost:
        return []
    first = (lost[0].get("problems") or ["?"])[0]
    return [f"placement not held in {len(lost)} of {len(ok)} repetitions ({first})"]


def notes(ok):
    """What the reader should know about how the repetitions were taken."""
    found = _slow_service(ok) + _slow_stop(ok) + _placement_lost(ok)
    scaled = [record_field(r, "loadgen_autoscale") for r in ok]
    scaled = [a for a in scaled if isinstance(a, dict) and a.get("threads")]
    if scaled:
        first_try = next((a["attempts"][0] for a in scaled if a.get("attempts")), None)
        why = "" if not first_try or first_try.get("cpu_share") is None else \
            f" ({first_try.get('threads', 1)} thread(s) used {first_try['cpu_share'] * 100:.0f}% of a core each)"
        threads = sorted({a["threads"] for a in scaled})
        found.append(f"re-run with {'/'.join(map(str, threads))} loadgen threads in {len(scaled)} of {len(ok)} "
                     f"repetitions{why}")
    busy = busy_machines(ok)
    if busy:
        others = [m["other_cpu_cores"] for m in busy if isinstance(m.get("other_cpu_cores"), (int, float))]
        most = f" (other processes used up to {max(others):.2f} cores)" if others else ""
        found.append(f"{len(busy)} of {len(ok)} repetitions on a busy machine{most}")
    return found

