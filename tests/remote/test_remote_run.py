"""`python3 -m harness run --hosts FILE`: a suite run with its server on one
test host and its load from two others (real SSH, testnet.py). The records
hold the merged load and each host's part, the manifest the topology; a
stale host is refused before anything starts; a server host whose SSH dies
mid-run fails that repetition, the run goes on, and nothing is left on it.
The server host places the server and its wineserver, and each record says
what that host's /proc read back."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import testnet
from harness import deploy, hosts, store

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="test hosts need root (ip netns)")

SUITE = """
description = "one point over three hosts"
servers = {servers}
reps = {reps}
[timeouts]
server_start = 20
server_stop = 20
loadgen_margin = 20
[[point]]
id = "pingpong-c5"
workload = "pingpong"
connections = 5
duration = {duration}
warmup = 0.1
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """host0 (linux) serves by default, host1 and host2 load; host3 is a Linux
    host with Wine, its own prefix and so its own wineserver."""
    folder = tmp_path_factory.mktemp("remote-run")
    prefix = testnet.light_wine_prefix(ROOT / "build" / "wine-prefix", folder / "host3-prefix")
    with testnet.TestNet(hosts=4) as net:
        text = f'ssh_config = "{net.ssh_config}"\nconnect_timeout = 3\n[run]\nserver = "host0"\n' \
               f'clients = ["host1", "host2"]\n'
        for host in net.hosts:
            wine = host.name == "host3"
            text += (f'[hosts.{host.name}]\nssh = "{host.name}"\nplatform = "{"wine" if wine else "linux"}"\n'
                     f'dir = "{folder}/{host.name}"\naddress = "{host.address}"\n')
            if wine:
                text += f'wine = "env WINEPREFIX={prefix} {ROOT}/scripts/wine-run"\n'
        path = folder / "hosts.toml"
        path.write_text(text)
        assert deploy.main(hosts.load_hosts(path)) == 0
        yield net, path


def suite_file(folder, reps=2, duration=0.3, servers=("reference-epoll",)):
    path = folder / "three-hosts.toml"
    path.write_text(SUITE.format(reps=reps, duration=duration, servers=json.dumps(list(servers))))
    return path


def harness(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def left_on(net, name):
    host = next(h for h in net.hosts if h.name == name)
    pids = testnet.run(["ip", "netns", "pids", host.namespace]).stdout.split()
    return [pid for pid in pids if int(pid) != net.sshd_pids.get(name)]


def test_a_run_on_three_hosts_records_the_merged_load_and_the_topology(lab, tmp_path):
    net, hosts_path = lab
    out = tmp_path / "run"
    done = harness("run", "--suite", suite_file(tmp_path), "--hosts", hosts_path, "--out", out)
    assert done.returncode == 0, done.stderr
    run = store.load_run(out)
    assert len(run.records) == 2 and all(record.ok for record in run.records)
    for record in run.records:
        merged = record.loadgen
        assert [h["host"] for h in merged["hosts"]] == ["host1", "host2"]
        assert sum(h["totals"]["messages"] for h in merged["hosts"]) == merged["totals"]["messages"] > 0
        assert sum(count for _, _, count in merged["histogram"]) == merged["totals"]["messages"]
        assert record.server_stats["connections_accepted"] == 5
        assert record.server_ready["bind"] == net.hosts[0].address
        # colocated by default: on every CPU the server host gives a process started over SSH (its sshd's,
        # which this process started), read back there at the start and the end
        placed = record.placement
        assert (placed["mode"], placed["host"], placed["held"]) == ("colocated", "host0", True), placed
        assert placed["server_cpus"] == placed["at_end"]["server_cpus"] == sorted(os.sched_getaffinity(0))
        assert placed["wineserver_cpus"] is None and placed["loadgen_cpus"] is None
    assert run.manifest["placement"] == {"mode": "colocated", "server_cpus": sorted(os.sched_getaffinity(0)),
                                         "wineserver_cpus": sorted(os.sched_getaffinity(0)), "loadgen_cpus": None,
                                         "host": "host0", "host_cpus": sorted(os.sched_getaffinity(0)),
                                         "not_placed": None}
    topology = run.manifest["topology"]
    assert topology["server"]["name"] == "host0" and [c["name"] for c in topology["clients"]] == ["host1", "host2"]
    assert topology["server"]["cpu_count"] >= 1 and topology["server"]["os"].startswith("Linux")
    assert run.manifest["platform"]["host"] == "host0"
    report = harness("report", out)
    assert report.returncode == 0, report.stderr
    markdown = (out / "report.md").read_text()
    assert "## Hosts" in markdown and "servers on host host0 (Linux), load from host1, host2" in markdown
    for name in ("host1", "host2"):
        assert f"| pingpong-c5 | reference-epoll | {name} |" in markdown.replace("\\-", "-")
    for name in ("host0", "host1", "host2"):
        assert not left_on(net, name), f"left running on {name}"


def test_a_winsock_server_under_wine_on_a_linux_host_and_the_reference_beside_it(lab, tmp_path):
    net, hosts_path = lab
    out = tmp_path / "run"
    done = harness("run", "--suite", suite_file(tmp_path, reps=1, servers=("select", "reference-epoll")),
                   "--hosts", hosts_path, "--server-host", "host3", "--out", out)
    assert done.returncode == 0, done.stderr
    run = store.load_run(out)
    assert sorted(record.server for record in run.records) == ["reference-epoll", "select"]
    host3 = next(h for h in net.hosts if h.name == "host3")
    for record in run.records:
        assert record.ok, record.failure
        assert record.server_ready["bind"] == host3.address  # Wine's sockets are in host3's namespace
        assert record.server_stats["connections_accepted"] == 5
        assert sum(h["totals"]["messages"] for h in record.loadgen["hosts"]) == record.loadgen["totals"]["messages"]
    assert run.manifest["platform"]["host_platform"] == "wine"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and [p for p in _pids(host3.namespace) if ".exe" in _command(p).split(" ")[0]
                                            and "select" in _command(p)]:
        time.sleep(0.1)
    assert not [p for p in _pids(host3.namespace) if "select.exe" in _command(p)], "select.exe left running"


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="split needs 2 CPUs")
def test_split_on_a_wine_host_puts_the_wineserver_apart_and_reads_it_back_there(lab, tmp_path):
    net, hosts_path = lab
    out = tmp_path / "run"
    done = harness("run", "--suite", suite_file(tmp_path, reps=1, servers=("select", "reference-epoll")),
                   "--hosts", hosts_path, "--server-host", "host3", "--placement", "split", "--out", out)
    assert done.returncode == 0, done.stderr
    run = store.load_run(out)
    usable = sorted(os.sched_getaffinity(0))
    server_cpus, wine_cpus = usable[:-1], usable[-1:]
    placed = {record.server: record.placement for record in run.records}
    select = placed["select"]
    assert (select["mode"], select["host"], select["held"]) == ("split", "host3", True), select
    assert select["server_cpus"] == select["at_end"]["server_cpus"] == server_cpus
    # host3's own wineserver (its prefix's, in its namespace), found and moved by the harness over SSH
    assert select["wineserver_cpus"] == select["at_end"]["wineserver_cpus"] == wine_cpus
    native = placed["reference-epoll"]
    assert native["held"] and native["server_cpus"] == server_cpus and native["wineserver_cpus"] is None
    assert run.manifest["placement"]["mode"] == "split" and run.manifest["placement"]["host"] == "host3"


def test_a_stale_host_is_refused_before_anything_starts(lab, tmp_path):
    net, hosts_path = lab
    loadgen_copy = Path(hosts.load_hosts(hosts_path).host("host2").executable("loadgen"))
    original = loadgen_copy.read_bytes()
    try:
        loadgen_copy.write_text("#!/bin/sh\necho loadgen winsock-bench 0.0.1 0123456789ab\n")
        done = harness("run", "--suite", suite_file(tmp_path), "--hosts", hosts_path, "--out", tmp_path / "run")
    finally:
        loadgen_copy.write_bytes(original)
    assert done.returncode == 2
    assert "host host2" in done.stderr and "stale" in done.stderr
    assert not (tmp_path / "run" / "manifest.json").exists()


def test_a_server_host_whose_ssh_dies_fails_that_repetition_and_leaves_nothing(lab, tmp_path):
    net, hosts_path = lab
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "harness", "run", "--suite",
                                str(suite_file(tmp_path, reps=2, duration=3)), "--hosts", str(hosts_path),
                                "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    server_ns = net.hosts[0].namespace
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(_is_server(pid) for pid in _pids(server_ns)):
            time.sleep(0.1)
        assert any(_is_server(pid) for pid in _pids(server_ns)), "the server never started on host0"
        time.sleep(0.5)
        for pid in _pids(server_ns):  # every sshd of host0, listener and sessions: its SSH is gone
            if _command(pid).startswith("sshd"):
                os.kill(int(pid), signal.SIGKILL)
        _, stderr = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        net.restart_sshd(net.hosts[0])
    assert process.returncode == 1, stderr
    records = store.load_run(out).records
    assert records and all(not record.ok for record in records)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_is_server(pid) for pid in _pids(server_ns)):
        time.sleep(0.1)
    assert not [pid for pid in _pids(server_ns) if _is_server(pid)], "the server outlived its SSH connection"


def _pids(namespace):
    return testnet.run(["ip", "netns", "pids", namespace]).stdout.split()


def _command(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _is_server(pid):
    return "reference-epoll" in _command(pid).split(" ", 1)[0]


def test_ab_on_hosts_puts_the_base_build_beside_the_current_one(lab, tmp_path):
    net, hosts_path = lab
    out = tmp_path / "ab"
    done = harness("ab", "--base", "HEAD", "--suite", suite_file(tmp_path), "--servers", "reference-epoll",
                   "--reps", "2", "--threshold", "90", "--hosts", hosts_path, "--out", out, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    base_copy = Path(hosts.load_hosts(hosts_path).host("host0").subfolder("base").executable("reference-epoll"))
    assert base_copy.is_file()
    run = store.load_run(out)
    assert sorted((r.variant, r.rep) for r in run.records) == [("base", 0), ("base", 1), ("current", 0),
                                                                ("current", 1)]
    for record in run.records:
        assert record.ok, record.failure
        assert record.server_ready["bind"] == net.hosts[0].address
        assert [h["host"] for h in record.loadgen["hosts"]] == ["host1", "host2"]
    for name in ("host0", "host1", "host2"):
        assert not left_on(net, name), f"left running on {name}"
