"""The test network itself: namespaces, sshd in each, traffic between hosts,
a server stopped through its SSH channel, and nothing left behind."""
import json
import os
import select
import subprocess
import time
from pathlib import Path

import pytest

import testnet

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "build" / "native" / "servers" / "reference-epoll" / "reference-epoll"
LOADGEN = ROOT / "build" / "native" / "loadgen" / "loadgen"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="test hosts need root (ip netns)")


def test_the_tools_are_installed():
    # As root the test network must work: a missing tool is a setup fault, not a skip.
    assert testnet.unavailable_reason() is None


@pytest.fixture(scope="module")
def net():
    with testnet.TestNet(hosts=2) as made:
        yield made


def read_line(stream, timeout):
    """One line from a pipe within `timeout` seconds, else None."""
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else None


def test_each_host_answers_ssh_with_its_own_address(net):
    for host in net.hosts:
        done = testnet.run(net.ssh(host, "ip", "-4", "-o", "addr", "show", "eth0"))
        assert f"inet {host.address}/24" in done.stdout


def test_a_host_has_no_route_out_of_the_test_network(net):
    # Only its own subnet: traffic from a host can reach nothing but the test hosts.
    routes = testnet.run(net.ssh(net.hosts[0], "ip", "route")).stdout
    assert "default" not in routes
    assert routes.split()[0] == f"198.18.{net.subnet}.0/24"


def test_a_server_started_over_ssh_serves_another_host_and_stops_at_channel_eof(net):
    if not (REFERENCE.exists() and LOADGEN.exists()):
        pytest.fail("build first: scripts/build.sh (native reference-epoll and loadgen)")
    server_host, client_host = net.hosts
    server = subprocess.Popen(net.ssh(server_host, str(REFERENCE), "--bind", server_host.address, "--port", "0"),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = json.loads(read_line(server.stdout, 10) or "null")
        assert ready["event"] == "ready" and ready["bind"] == server_host.address
        load = testnet.run(net.ssh(client_host, str(LOADGEN), "--host", server_host.address,
                                   "--port", str(ready["port"]), "--connections", "4", "--messages", "2000",
                                   "--json", "-"), timeout=60)
        figures = json.loads(load.stdout)
        assert figures["totals"]["messages"] == 2000
        server.stdin.close()  # end-of-file through the SSH channel is the stop
        stats = json.loads(read_line(server.stdout, 10) or "null")
        assert stats["event"] == "stats"
        assert stats["connections_accepted"] == 4
        assert stats["bytes_received"] == stats["bytes_sent"] >= 2000 * 64
        assert server.wait(timeout=10) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    # The server process is gone from the host, not only our ssh client.
    assert testnet.run(["ip", "netns", "pids", server_host.namespace]).stdout.split() == \
        [str(net.sshd_pids[server_host.name])]


def test_everything_is_removed_on_exit_even_after_a_failure():
    with pytest.raises(RuntimeError):
        with testnet.TestNet(hosts=1, subnet=251) as made:
            namespaces = [made.switch, made.hosts[0].namespace]
            sshd = list(made.sshd_pids.values())
            raise RuntimeError("a failing test")
    left = set(namespaces) & set(testnet._namespaces())
    assert not left
    time.sleep(0.2)
    assert not [pid for pid in sshd if testnet._pid_alive(pid) and not _is_zombie(pid)]


def test_leftovers_of_a_killed_run_are_removed():
    dead_pid = _a_dead_pid()
    namespace = f"{testnet.PREFIX}{dead_pid}-0-h0"
    testnet.run(["ip", "netns", "add", namespace])
    try:
        assert namespace in testnet.remove_leftovers()
        assert namespace not in testnet._namespaces()
    finally:
        testnet.run(["ip", "netns", "del", namespace], check=False)


def _a_dead_pid():
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _is_zombie(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return False
