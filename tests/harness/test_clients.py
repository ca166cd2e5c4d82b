"""harness/clients.py without a network: how a point's load is split over
client hosts, and how their documents merge into one."""
import random

import pytest

import synthetic
from harness.clients import ClientsError, merge_documents, split_load
from harness.hosts import Host


def hosts(count):
    return [Host(name=f"c{i}", ssh=f"c{i}", platform="linux", dir="/opt/wsb", address=f"c{i}") for i in range(count)]


def test_connections_idle_and_quota_are_divided_and_the_rate_follows_the_connections():
    shares = split_load({"connections": 5, "idle": 1001, "messages": 10, "rate": 1000.0, "threads": 3,
                         "size": 64}, "rate", hosts(2))
    assert [s["connections"] for s in shares] == [3, 2]
    assert [s["idle"] for s in shares] == [501, 500]
    assert [s["messages"] for s in shares] == [5, 5]
    assert [s["rate"] for s in shares] == [600.0, 400.0]
    assert [s["threads"] for s in shares] == [3, 2]  # never more threads than connections
    assert all(s["size"] == 64 for s in shares)


def test_churn_divides_its_concurrency():
    shares = split_load({"concurrency": 4}, "churn", hosts(3))
    assert [s["concurrency"] for s in shares] == [2, 1, 1]
    assert all("connections" not in s for s in shares)


def test_a_host_without_a_connection_is_refused_naming_the_hosts():
    with pytest.raises(ClientsError, match=r"1 connections cannot be split over 2 client hosts \(c0, c1\)"):
        split_load({"connections": 1}, "pingpong", hosts(2))


def document(samples_ns, messages, start_ns, errors=0, workload="pingpong"):
    point = synthetic._point(f"{workload}-x", {"loadgen_args": {"duration": 2}})
    doc = synthetic._loadgen_document(point, samples_ns, messages / 2)
    doc["started_at_unix_ns"] = start_ns
    doc["errors"]["reset"] = errors
    return doc


def test_merged_latency_is_that_of_all_messages_together():
    rng = random.Random(5)
    fast = [rng.randint(20_000, 60_000) for _ in range(900)]
    slow = [rng.randint(50_000, 900_000) for _ in range(300)]
    merged = merge_documents([("c0", document(fast, 900, 10**18)), ("c1", document(slow, 300, 10**18 + 2_000_000,
                                                                                 errors=2))])
    assert sum(count for _, _, count in merged["histogram"]) == 1200
    assert merged["histogram"] == synthetic.histogram_from_ns(fast + slow)
    together = synthetic.latency_summary_us(fast + slow)
    for name in ("p50", "p90", "p99", "p99_9", "max", "count"):
        assert merged["latency_us"][name] == pytest.approx(together[name], abs=0.001), name
    assert merged["latency_us"]["mean"] == pytest.approx(together["mean"], rel=1e-3)
    assert merged["totals"]["messages"] == 1200
    assert merged["messages_per_s"] == pytest.approx(600.0)
    assert merged["errors"]["reset"] == 2
    assert merged["config"]["connections"] == 2 * document(fast, 900, 1)["config"]["connections"]
    assert merged["start_spread_s"] == pytest.approx(0.002)
    assert [h["host"] for h in merged["hosts"]] == ["c0", "c1"]
    assert merged["hosts"][1]["latency_us"] == document(slow, 300, 1)["latency_us"]
    assert merged["time_series"][0]["messages"] == 900 // 2 + 300 // 2
    assert merged["time_series"][0]["p99_us"] == max(h["latency_us"]["p99"] for h in merged["hosts"])


def test_rate_and_churn_figures_add_and_summaries_take_the_worst_host():
    rate = merge_documents([("c0", document([40_000] * 10, 100, 1, workload="rate")),
                            ("c1", document([90_000] * 10, 60, 1, workload="rate"))])
    assert rate["requested_rate"] == 2 * 10000.0 and rate["achieved_rate"] == pytest.approx(80.0)
    churn = merge_documents([("c0", document([40_000] * 10, 100, 1, workload="churn")),
                             ("c1", document([90_000] * 10, 60, 1, workload="churn"))])
    assert churn["connections"] == 160
    assert churn["connect_latency_us"]["p99"] == pytest.approx(63.0, abs=1)  # 90 us x 0.7, the worse host
    assert churn["merged_by"]["connect_latency_us"] == "the worst host's"


def test_a_saturated_client_host_is_flagged_by_name_though_the_others_idle():
    from harness.records import LOADGEN_CPU_LIMIT, busiest_loadgen, loadgen_cpu_share_of
    busy, idle = document([40_000] * 10, 100, 1), document([40_000] * 10, 100, 1)
    wall = busy["config"]["warmup_s"] + busy["totals"]["duration_s"]
    busy["client_cpu_s"] = {"user": 0.0, "system": 0.97 * wall}
    idle["client_cpu_s"] = {"user": 0.0, "system": 0.05 * wall}
    merged = merge_documents([("c0", idle), ("c1", busy)])
    summed = (merged["client_cpu_s"]["system"]) / wall / merged["config"]["threads"]
    assert summed < LOADGEN_CPU_LIMIT  # the sum alone would hide it
    assert busiest_loadgen(merged) == (pytest.approx(0.97), "c1")
    assert loadgen_cpu_share_of(merged) == pytest.approx(0.97)


def test_per_connection_counts_add_up_over_the_hosts_and_keep_a_starved_connection():
    first, second = document([40_000] * 10, 100, 1), document([40_000] * 10, 100, 1)
    first["per_connection"] = {"connections": 3, "served": 3, "min_messages": 40, "max_messages": 70}
    second["per_connection"] = {"connections": 2, "served": 1, "min_messages": 0, "max_messages": 90}
    merged = merge_documents([("c0", first), ("c1", second)])
    assert merged["per_connection"] == {"connections": 5, "served": 4, "min_messages": 0, "max_messages": 90}
    del second["per_connection"]  # churn has none (null): nor has the merge
    assert "per_connection" not in merge_documents([("c0", first), ("c1", second)])
