"""Never measure the load generator: when its CPU nears one core per thread
during an item (records.LOADGEN_CPU_LIMIT, the share the report flags),
the item is run again with more load generator threads, up to the cores
it may use and the connections it holds, and the record says so in
`loadgen_autoscale`. Later repetitions of the cell start at the raised
count (taken from its records, so a resumed run keeps it too)."""
from harness import platforms, records
from harness.suites import LOADGEN_DEFAULTS


def available_cores(placement):
    """The CPUs the load generator may run on (placement: harness.run.placement.Placement, or None)."""
    if placement is not None and placement.loadgen_cpus:
        return len(placement.loadgen_cpus)
    return platforms.current().cpu_count()


def point_threads(point):
    return point.loadgen_args.get("threads", LOADGEN_DEFAULTS["threads"])


def thread_cap(point, placement):
    """The most threads the load generator can use at this point: no more than
    its cores, and no more than its connections (each thread needs one)."""
    args = {**LOADGEN_DEFAULTS, **point.loadgen_args}
    spread_over = args["concurrency"] if point.workload == "churn" else args["connections"]
    return max(point_threads(point), min(available_cores(placement), spread_over))


def threads_used(record):
    """The load generator threads a record's run used (from its own document)."""
    config = (record.get("loadgen") or {}).get("config") or {}
    return config.get("threads")


def run_scaled(run_once, start_threads, cap):
    """run_once(threads) -> record, first with start_threads, then with twice
    as many (at most cap) while the load generator saturates its threads.
    Returns the last record, with loadgen_autoscale set when the load
    generator saturated (null otherwise): the attempts, the threads finally
    used, and whether it still saturated with the most it could have."""
    attempts, threads = [], start_threads
    while True:
        record = run_once(threads)
        share = records.loadgen_cpu_share_of(record["loadgen"]) if record["status"] == "ok" else None
        attempts.append({"threads": threads, "cpu_share": None if share is None else round(share, 3),
                         "elapsed_s": record["elapsed_s"]})
        saturated = share is not None and share >= records.LOADGEN_CPU_LIMIT
        if not saturated or threads >= cap:
            break
        threads = min(cap, threads * 2)
    if saturated or len(attempts) > 1:
        record["loadgen_autoscale"] = {"threads": threads, "attempts": attempts, "saturated": saturated}
    return record


def item_seconds(record):
    """The wall time an item took, its earlier load generator attempts included."""
    earlier = ((record.get("loadgen_autoscale") or {}).get("attempts") or [])[:-1]
    return (record.get("elapsed_s") or 0) + sum(attempt["elapsed_s"] for attempt in earlier)
