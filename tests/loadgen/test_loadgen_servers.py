"""Every loadgen workload against every server: the six Winsock models under
Wine and the Linux reference. Short runs (about a second measured, small
counts); each asserts a clean exit, zero errors of every kind, sane figures,
and that the server's own stats line agrees with what loadgen did: exactly
the connections it opened, every byte it received sent back, no error.

A fresh server per test (a start costs tens of milliseconds even under Wine),
so each server's counters belong to one workload and can be checked exactly.
WSB_SERVERS=a,b limits the servers, as for the conformance suite; a model's
option variants (their model.json's "variants") run as servers of their own."""
import pytest

from harness.servers import EchoServer, ServerUnsupported, selected_variants, server_command, variant_id
from lacking import skip_if_lacking
from test_loadgen import check_sane, check_timed_run, load_results, run_loadgen

DURATION_S, WARMUP_S = 1, 0.2
MEASURED = ["--duration", DURATION_S, "--warmup", WARMUP_S]
IDLE_CONNECTIONS = 200
CHURN_OPERATIONS = 300

# Each workload's arguments, and how many connections the server must count.
WORKLOADS = {
    "pingpong": (["--connections", 4, *MEASURED], 4),
    "pipeline": (["--connections", 2, "--depth", 16, "--size", 1000, *MEASURED], 2),
    "rate": (["--connections", 4, "--rate", 2000, *MEASURED], 4),
    "churn": (["--concurrency", 4, "--messages", CHURN_OPERATIONS], CHURN_OPERATIONS),
    "idle": (["--connections", 4, "--idle", IDLE_CONNECTIONS, *MEASURED], 4 + IDLE_CONNECTIONS),
}


@pytest.fixture(params=selected_variants(), ids=[variant_id(*v) for v in selected_variants()])
def server(request):
    model, args = request.param
    try:
        server_command(model)
    except FileNotFoundError as missing:
        pytest.fail(str(missing))
    running = EchoServer(model, args)
    try:
        try:
            running.start()
        except ServerUnsupported as unsupported:  # rio under Wine (tests/conformance/test_unsupported.py)
            skip_if_lacking(model, unsupported.reason)
        yield running
    finally:
        running.kill()


def check_loadgen_side(result, out, workload):
    assert result.returncode == 0, result.stderr
    doc = load_results(out)
    check_sane(doc, workload)
    assert not any(doc["errors"].values()), doc["errors"]
    assert doc["ended_early"] is False and doc["fatal"] is None and doc["exit_code"] == 0
    if workload == "churn":
        assert doc["totals"]["messages"] == doc["connections"] == CHURN_OPERATIONS
        assert doc["connect_latency_us"]["count"] == CHURN_OPERATIONS
    else:
        check_timed_run(result, doc, WARMUP_S, DURATION_S)
    if workload == "rate":
        assert doc["requested_rate"] == 2000 and doc["achieved_rate"] > 0
        assert doc["latency_uncorrected_us"]["count"] == doc["totals"]["messages"]
    return doc


def check_server_side(stats, doc, expected_connections):
    """What is exactly true of the server's counters after a clean run. The
    bytes include the warm-up and the replies drained after the measured
    window, so they are at least, not exactly, loadgen's measured bytes."""
    assert stats["connections_accepted"] == expected_connections, stats
    assert stats["connections_refused"] == 0, stats
    assert not any(stats["errors"].values()), stats
    assert stats["bytes_received"] == stats["bytes_sent"], stats
    assert stats["bytes_received"] >= doc["totals"]["bytes"], stats


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_workload_against_server(server, tmp_path, workload):
    args, expected_connections = WORKLOADS[workload]
    out = tmp_path / "r.json"
    result = run_loadgen("--port", server.port, "--workload", workload, *args, "--json", out)
    doc = check_loadgen_side(result, out, workload)
    check_server_side(server.stop(), doc, expected_connections)
    if workload == "churn":
        assert server.stats["bytes_received"] == CHURN_OPERATIONS * doc["config"]["size"]
