"""stats.histogram_percentile against the real load generator, not a copy of it.

The harness computes percentiles from a load generator's histogram where no
figure of its own exists: a multi-host run's merged latency (harness/clients.py)
and the report's spectrum. tests/harness/synthetic.py mirrors loadgen's
histogram.c in Python, and the percentile tests in test_stats.py check against
that mirror; here one short real run (the native load generator against the
native reference server on loopback, about a second) checks that the figures
loadgen reports itself equal histogram_percentile() applied to the histogram
in the same document. Exactly: loadgen's percentile is the upper end of the
bucket holding the nearest rank, clamped to the maximum, printed in us with
three decimals (whole ns), no interpolation (loadgen/histogram.c)."""
import pytest

from harness import clients, stats
from harness.records import PERCENTILES
from harness.loadgen import LoadgenNotFound, find_loadgen, run_loadgen
from harness.servers import EchoServer, server_command


@pytest.fixture(scope="module")
def document():
    """The JSON document of one second of pingpong on 4 connections."""
    try:
        loadgen = find_loadgen()
        server_command("reference-epoll")
    except (LoadgenNotFound, FileNotFoundError) as missing:
        pytest.fail(f"{missing} (scripts/build.sh builds everything)")
    server = EchoServer("reference-epoll")
    server.start()
    try:
        result = run_loadgen([str(loadgen), "--host", "127.0.0.1", "--port", str(server.port), "--workload",
                              "pingpong", "--connections", "4", "--duration", "1", "--warmup", "0.2", "--json", "-"],
                             timeout=30)
    finally:
        server.kill()
    assert result.failure is None, f"{result.failure}: {result.stderr}"
    return result.document


def ns(us):
    """loadgen prints ns / 1000 with three decimals: the whole ns it computed."""
    return round(us * 1000)


def test_the_run_fills_enough_buckets_to_tell_percentiles_apart(document):
    histogram, latency = document["histogram"], document["latency_us"]
    assert sum(count for _, _, count in histogram) == latency["count"] >= 1000
    assert len(histogram) >= 20  # values spread over many buckets, some wider than 1 ns
    assert any(high > low for low, high, _ in histogram)


@pytest.mark.parametrize("name, percent", PERCENTILES)
def test_histogram_percentile_equals_loadgens_own_figure(document, name, percent):
    latency = document["latency_us"]
    assert stats.histogram_percentile(document["histogram"], percent, maximum=ns(latency["max"])) == \
        ns(latency[name])


def test_the_100th_percentile_is_loadgens_maximum(document):
    maximum = ns(document["latency_us"]["max"])
    assert stats.histogram_percentile(document["histogram"], 100, maximum=maximum) == maximum


def test_a_merge_of_one_host_reproduces_its_own_latency_figures(document):
    merged = clients.merge_documents([("only", document)])
    latency = document["latency_us"]
    for name, _ in PERCENTILES:
        assert ns(merged["latency_us"][name]) == ns(latency[name]), name
    assert merged["latency_us"]["max"] == latency["max"] and merged["latency_us"]["count"] == latency["count"]
