"""A server on one host, load from two others, all over real SSH (test hosts
in network namespaces, testnet.py): the server started and stopped through
its SSH channel, the load split and released together, the documents merged;
a host that cannot run its part named; nothing of ours left on any host."""
import os
import signal
import time
from pathlib import Path

import pytest

import testnet
from harness import deploy, hosts
from harness.clients import run_clients
from harness.servers import EchoServer, ServerError

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="test hosts need root (ip netns)")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Three linux hosts with the native build deployed: host0 serves, host1 and host2 load."""
    folder = tmp_path_factory.mktemp("lab")
    with testnet.TestNet(hosts=3) as net:
        text = f'ssh_config = "{net.ssh_config}"\nconnect_timeout = 5\n'
        for host in net.hosts:
            text += (f'[hosts.{host.name}]\nssh = "{host.name}"\nplatform = "linux"\n'
                     f'dir = "{folder}/{host.name}"\naddress = "{host.address}"\n')
        hosts_file = hosts.parse_hosts(text, folder / "hosts.toml")
        assert deploy.main(hosts_file) == 0
        yield net, hosts_file


def ours_left(net, host):
    """Processes in a host's namespace (the test host of that name) other than its sshd listener."""
    namespace = next(h.namespace for h in net.hosts if h.name == host.name)
    pids = testnet.run(["ip", "netns", "pids", namespace]).stdout.split()
    return [pid for pid in pids if int(pid) != net.sshd_pids[host.name]]


def start_remote_server(hosts_file, host):
    server = EchoServer("reference-epoll", command=hosts_file.server_command(host, "reference-epoll"),
                        ready_timeout=20, stop_timeout=20)
    return server.start()


def wait_until_gone(net, host, timeout=10):
    deadline = time.monotonic() + timeout
    while ours_left(net, host) and time.monotonic() < deadline:
        time.sleep(0.1)
    return ours_left(net, host)


def test_load_from_two_hosts_is_split_released_together_and_merged(lab):
    net, hosts_file = lab
    server_host = hosts_file.host("host0")
    clients = [hosts_file.host("host1"), hosts_file.host("host2")]
    server = start_remote_server(hosts_file, server_host)
    try:
        assert server.ready["bind"] == server_host.address
        result = run_clients(hosts_file, clients, server_host.address, server.port, "pingpong",
                             {"connections": 5, "size": 64, "duration": 0.5, "warmup": 0.1},
                             connect_timeout=5, run_timeout=60)
        stats = server.stop()
    finally:
        server.close()
    assert result.failure is None, result.failure
    merged = result.document
    host_counts = [h["totals"]["messages"] for h in merged["hosts"]]
    assert [h["config"]["connections"] for h in merged["hosts"]] == [3, 2]
    assert sum(count for _, _, count in merged["histogram"]) == sum(host_counts) == merged["totals"]["messages"] > 0
    assert merged["latency_us"]["count"] == merged["totals"]["messages"]
    assert stats["connections_accepted"] == 5 == merged["config"]["connections"]
    assert stats["bytes_received"] == stats["bytes_sent"]
    assert merged["start_spread_s"] < 0.5  # released together, not one after the other's run
    for host in [server_host, *clients]:
        assert not wait_until_gone(net, host), f"left running on {host.name}"


def test_a_client_host_that_cannot_run_its_part_is_named_and_the_others_stop(lab, tmp_path):
    net, hosts_file = lab
    server_host = hosts_file.host("host0")
    broken = hosts.Host(name="host2", ssh="host2", platform="linux", dir=str(tmp_path / "nothing-here"),
                        address=hosts_file.host("host2").address)
    server = start_remote_server(hosts_file, server_host)
    try:
        began = time.monotonic()
        result = run_clients(hosts_file, [hosts_file.host("host1"), broken], server_host.address, server.port,
                             "pingpong", {"connections": 2, "duration": 5}, connect_timeout=5, run_timeout=60)
        took = time.monotonic() - began
        stats = server.stop()
    finally:
        server.close()
    assert result.document is None
    assert result.failure.startswith("client host host2: loadgen ended before connecting")
    assert took < 30  # the healthy host was let go at once, not after its 5 s run
    host1 = next(entry for entry in result.per_host if entry[0] == "host1")
    assert host1[1]["totals"]["messages"] == 0  # it never measured
    assert stats["bytes_received"] == 0
    for host in net.hosts:
        assert not wait_until_gone(net, host), f"left running on {host.name}"


def test_a_server_whose_host_connection_dies_does_not_stay_behind(lab):
    net, hosts_file = lab
    server_host = hosts_file.host("host0")
    server = start_remote_server(hosts_file, server_host)
    try:
        assert len(ours_left(net, server_host)) >= 2  # sshd's session and the server
        # The SSH connection dies (here: our end is killed): the server must go too.
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
        assert not wait_until_gone(net, server_host), "the server outlived its SSH connection"
        with pytest.raises(ServerError):
            server.stop()
    finally:
        server.close()
