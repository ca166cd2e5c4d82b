"""Placement on a server host (harness.run.remote_placement): what each mode
asks for there, the launcher the server's command runs under, the SSH
commands that place the Wine processes and read back, what their output
says, and the records and texts made of it. SSH is a fake that answers
what a host would; the launcher and the placing script also run here, on
real processes (tests/remote runs them over real SSH)."""
import argparse
import io
import json
import os
import shlex
import subprocess

import pytest

from harness import agree, compare
from harness.__main__ import placement_mode
from harness.hosts import parse_hosts
from harness.platforms.procfs import parse_cpu_list
from harness.report.sections import placement_text
from harness.run import placement, remote_placement
from harness.run.errors import RunError
from harness.run.remote import Topology
import synthetic

HOSTS = """
[hosts.linuxbox]
ssh = "linuxbox"
platform = "linux"
dir = "/opt/wsb"
address = "192.0.2.1"

[hosts.winehost]
ssh = "winehost"
platform = "wine"
dir = "/srv/wsb"
wine = "env WINEPREFIX=/srv/prefix /srv/wsb/wine-run"

[hosts.winbox]
ssh = "winbox"
platform = "windows"
dir = 'C:\\wsb'

[hosts.client]
ssh = "client"
platform = "linux"
dir = "/opt/wsb"
"""


@pytest.fixture
def hosts_file():
    return parse_hosts(HOSTS, "h.toml")


class FakeSsh:
    """Answers each command with the next of `answers` ((exit code, output)), and keeps the commands."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.commands = []

    def __call__(self, hosts_file, host, command):
        self.commands.append((host.name, command))
        return self.answers.pop(0)


# --- what each mode asks for on a server host ----------------------------------------

@pytest.mark.parametrize("mode, server, wine", [
    (None, (0, 1, 2, 3), (0, 1, 2, 3)),   # the default: colocated, on every CPU of the host
    ("colocated", (0, 1, 2, 3), (0, 1, 2, 3)),
    ("split", (0, 1, 2), (3,)),          # the wineserver (one thread) on the last CPU, apart
    ("pinned", (0, 1, 2), None),         # the server as in split, Wine's processes free
    ("free", None, None),
])
def test_each_mode_on_a_server_host(hosts_file, mode, server, wine):
    planned = remote_placement.plan_on_host(mode, hosts_file.host("winehost"), [0, 1, 2, 3])
    assert (planned.mode, planned.server_cpus, planned.wine_cpus) == (mode or "colocated", server, wine)
    assert planned.loadgen_cpus is None and planned.host == "winehost" and planned.not_placed is None
    # what a read-back must find: the load generators are on other hosts, not read there
    assert planned.expected()["loadgen_cpus"] is None
    assert planned.expected()["wineserver_cpus"] == list(wine or (0, 1, 2, 3))


def test_a_mode_that_needs_two_cpus_is_refused_in_one_line_on_a_one_cpu_host(hosts_file):
    host = hosts_file.host("linuxbox")
    for mode in ("split", "pinned"):
        with pytest.raises(RunError, match=f"^--placement {mode} needs at least 2 CPUs on server host linuxbox"):
            remote_placement.plan_on_host(mode, host, [5])
    assert remote_placement.plan_on_host("colocated", host, [5]).server_cpus == (5,)
    with pytest.raises(RunError, match="unknown placement 'nearby'"):
        remote_placement.plan_on_host("nearby", host, [0, 1])


def test_a_windows_server_host_is_not_placed_and_says_why(hosts_file):
    host = hosts_file.host("winbox")
    for mode in (None, "free"):
        planned = remote_placement.plan_on_host(mode, host, ())
        assert planned.mode == "free" and planned.server_cpus is planned.wine_cpus is None
        assert "windows server host" in planned.not_placed
        record = placement.record_of(planned, None, None, under_wine=False)
        assert record["not_placed"] == planned.not_placed and record["held"] is None and record["host"] == "winbox"
    with pytest.raises(RunError, match="^--placement split: server host winbox runs Windows") as refused:
        remote_placement.plan_on_host("split", host, ())
    assert "\n" not in str(refused.value)
    assert Topology(hosts_file, host, []).placer(planned, "iocp") is None


def test_the_host_is_asked_what_its_processes_may_use(hosts_file):
    ssh = FakeSsh((0, "0-1,3\n"))
    planned = remote_placement.plan_remote(Topology(hosts_file, hosts_file.host("linuxbox"), []), "split", ssh)
    assert planned.all_cpus == (0, 1, 3) and planned.server_cpus == (0, 1) and planned.wine_cpus == (3,)
    assert ssh.commands == [("linuxbox", remote_placement.USABLE_COMMAND)]
    no_taskset = FakeSsh((3, "taskset not found (util-linux)"))
    with pytest.raises(RunError, match="^server host linuxbox: cannot place processes there .taskset not found"):
        remote_placement.plan_remote(Topology(hosts_file, hosts_file.host("linuxbox"), []), None, no_taskset)
    windows = FakeSsh()  # never asked: it has no answer to give
    assert remote_placement.plan_remote(Topology(hosts_file, hosts_file.host("winbox"), []), None,
                                        windows).not_placed


def test_the_usable_cpus_command_reads_this_machines_own_affinity():
    done = subprocess.run(["sh", "-c", remote_placement.USABLE_COMMAND], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout
    assert parse_cpu_list(done.stdout) == sorted(os.sched_getaffinity(0))


def test_a_placement_on_a_host_keeps_its_host_and_cpus_in_the_manifest(hosts_file):
    planned = remote_placement.plan_on_host("pinned", hosts_file.host("linuxbox"), [0, 1])
    manifest = json.loads(json.dumps(planned.to_manifest()))
    assert manifest == {"mode": "pinned", "server_cpus": [0], "wineserver_cpus": None, "loadgen_cpus": None,
                        "host": "linuxbox", "host_cpus": [0, 1], "not_placed": None}
    # a resumed run reads the host's CPUs from the manifest, not this machine's
    assert placement.Placement.from_manifest(manifest, [7]) == planned
    local = placement.Placement("colocated", (0,), (0,), (1,), (0, 1))
    assert "host" not in local.to_manifest()  # local manifests as before


# --- the launcher and the placing commands -------------------------------------------

def test_the_server_runs_under_a_launcher_that_pins_and_marks_it(hosts_file):
    host = hosts_file.host("winehost")
    split = remote_placement.plan_on_host("split", host, [0, 1])
    placer = Topology(hosts_file, host, []).placer(split, "select")
    assert placer.under_wine
    argv = placer.launching(hosts_file.server_command(host, "select"))(["--port", "0"])
    assert argv[:-1] == hosts_file.ssh_argv(host, "")[:-1]
    assert shlex.split(argv[-1]) == ["sh", "-c", remote_placement.MARK, placer.token, "taskset", "-c", "0",
                                     "env", "WINEPREFIX=/srv/prefix", "/srv/wsb/wine-run", "/srv/wsb/select.exe",
                                     "--bind", host.address, "--port", "0"]
    free = Topology(hosts_file, host, []).placer(remote_placement.plan_on_host("free", host, [0, 1]),
                                                 "reference-epoll")
    assert not free.under_wine  # native on a wine host
    assert free.launcher() == ["sh", "-c", remote_placement.MARK, free.token]  # marked, not pinned
    assert free.token != placer.token


def test_a_windows_host_command_takes_no_launcher(hosts_file):
    with pytest.raises(ValueError, match="take no launcher"):
        hosts_file.host("winbox").command_line("iocp", launcher=["sh"])


def test_the_launcher_marks_the_program_it_execs_with_the_token_and_its_own_pid():
    done = subprocess.run(["sh", "-c", remote_placement.MARK, "cafe01", "sh", "-c", 'echo "$WSB_SERVER $$"'],
                          capture_output=True, text=True, timeout=30)
    token_and_pid, pid = done.stdout.split()
    assert token_and_pid == f"cafe01:{pid}"


@pytest.mark.parametrize("mode, server, under_wine, moved_to", [
    ("split", "select", True, "1"),
    ("colocated", "select", True, "0,1"),
    ("pinned", "select", True, "0,1"),     # Wine's processes back on every CPU
    ("free", "select", True, "0,1"),
    ("split", "reference-epoll", False, ""),  # no Wine processes to move
])
def test_the_wine_processes_are_moved_where_the_mode_puts_them_and_only_at_the_start(
        hosts_file, mode, server, under_wine, moved_to):
    host = hosts_file.host("winehost")
    ssh = FakeSsh((0, "server 812 0\nwineserver 77 1\n"), (0, "server 812 0\n"))
    placer = remote_placement.ServerPlacer(hosts_file, host, remote_placement.plan_on_host(mode, host, [0, 1]),
                                           host.is_windows_program(server), ssh)
    assert placer.under_wine == under_wine
    assert placer.place_and_read() == {"server_cpus": [0], "wineserver_cpus": [1], "loadgen_cpus": None}
    assert placer.read() == {"server_cpus": [0], "wineserver_cpus": None, "loadgen_cpus": None}
    (_, placing), (_, reading) = ssh.commands
    wine_flag = "1" if under_wine else "0"
    assert shlex.split(placing) == ["sh", "-c", remote_placement.script_text(), "sh", placer.token, wine_flag,
                                    moved_to]
    assert shlex.split(reading)[-3:] == [placer.token, wine_flag, ""]


def test_a_failed_read_back_is_no_reading():
    placer = remote_placement.ServerPlacer(None, parse_hosts(HOSTS).host("linuxbox"),
                                           placement.Placement("colocated", (0,), (0,), None, (0,), host="linuxbox"),
                                           False, FakeSsh((255, "server 1 0\nConnection closed")))
    assert placer.read() == {"server_cpus": None, "wineserver_cpus": None, "loadgen_cpus": None}


@pytest.mark.parametrize("output, expected", [
    ("server 812 0 0-1\nwineserver 77 1\n", ([0, 1], [1])),  # a thread on another list: the union
    ("server 812 2,4-5\n", ([2, 4, 5], None)),                  # no wineserver found
    ("", (None, None)),                                        # the server is gone
    ("Warning: something\nserver 812 0\nwineserver 77 1\nwineserver 78 0-1\n", ([0], [1])),  # first wineserver
    ("server 812\n", (None, None)),                            # found, nothing readable
])
def test_the_read_back_output_is_parsed(output, expected):
    reading = remote_placement.parse_reading(output)
    assert (reading["server_cpus"], reading["wineserver_cpus"]) == expected and reading["loadgen_cpus"] is None


# --- the placing script, run here on real processes --------------------------------------

def run_script(token, under_wine, wine_cpus):
    done = subprocess.run(["sh", "-c", remote_placement.script_text(), "sh", token, under_wine, wine_cpus],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_the_script_finds_the_launched_server_by_its_token_and_reads_every_thread():
    cpu = sorted(os.sched_getaffinity(0))[-1]
    token = "5eed" + os.urandom(4).hex()
    # the launcher, then a shell that starts a child (which inherits the mark but is not the server) and
    # says it runs, as a server's ready line does: taskset has pinned it by then
    launched = subprocess.Popen(["sh", "-c", remote_placement.MARK, token, "taskset", "-c", str(cpu),
                                 "sh", "-c", "sleep 30 & echo running; wait"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, text=True)
    try:
        assert launched.stdout.readline() == "running\n"
        assert run_script(token, "0", "") == f"server {launched.pid} {cpu} \n"
        assert run_script("0ther" + token, "0", "") == ""  # another start's token finds nothing
    finally:
        launched.kill()
        launched.wait()


# --- records, texts, comparisons ------------------------------------------------------------

SPLIT_ON_HOST = placement.Placement("split", (0,), (1,), None, (0, 1), host="host3")


def reading(server, wineserver):
    return {"server_cpus": server, "wineserver_cpus": wineserver, "loadgen_cpus": None}


def test_a_repetition_on_a_host_holds_only_if_the_server_and_its_wineserver_stayed_put():
    held = placement.record_of(SPLIT_ON_HOST, reading([0], [1]), reading([0], [1]), under_wine=True)
    assert held["held"] and held["host"] == "host3" and held["loadgen_cpus"] is None
    assert held["at_end"] == reading([0], [1])
    moved = placement.record_of(SPLIT_ON_HOST, reading([0], [1]), reading([0], [0, 1]), under_wine=True)
    assert not moved["held"] and moved["problems"] == ["wineserver on CPUs 0,1 at the end, not 1"]
    native = placement.record_of(SPLIT_ON_HOST, reading([0, 1], None), None, under_wine=False)
    assert native["problems"] == ["server on CPUs 0,1 at the start, not 0"] and native["wineserver_cpus"] is None


def test_the_report_says_where_the_server_host_put_the_servers():
    assert placement_text(SPLIT_ON_HOST.to_manifest()) == \
        "placement split on server host host3: servers on CPU 0, their wineserver on CPU 1"
    pinned = placement.Placement("pinned", (0,), None, None, (0, 1), host="host3").to_manifest()
    assert placement_text(pinned).endswith("servers on CPU 0, their wineserver wherever the scheduler put it")
    not_placed = placement.Placement("free", None, None, None, None, host="winbox", not_placed="why").to_manifest()
    assert placement_text(not_placed) == "placement: not placed on server host winbox (why)"


def placed_run(path, placed):
    samples = [[100.0 + rep, 110.0, 120.0] for rep in range(6)]
    run_dir = synthetic.write_run(path, {("pingpong-c1", "iocp"): samples, ("pingpong-c1", "select"): samples})
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["placement"] = placed.to_manifest()
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return run_dir


def test_compare_and_agree_refuse_a_run_placed_on_a_host_against_one_placed_here(tmp_path):
    here = placed_run(tmp_path / "here", placement.Placement("colocated", (0,), (1,), None, (0, 1)))
    there = placed_run(tmp_path / "there", placement.Placement("colocated", (0,), (1,), None, (0, 1), host="host3"))
    err = io.StringIO()
    assert compare.main(here, there, 5.0, allow_different=True, out=io.StringIO(), err=err) == 2
    assert "vs colocated on host host3 (server 0; wineserver 1) (new)" in err.getvalue()
    assert agree.main(here, there, out=io.StringIO(), err=io.StringIO()) == 2
    assert compare.main(there, there, 5.0, out=io.StringIO(), err=io.StringIO()) == 0


# --- the command line --------------------------------------------------------------------

def test_placement_goes_with_hosts_now():
    parser = argparse.ArgumentParser()

    def chosen(hosts, placement_option=None, pin=False):
        return placement_mode(argparse.Namespace(hosts=hosts, placement=placement_option, pin=pin), parser)
    assert chosen("h.toml", "split") == "split"
    assert chosen("h.toml", pin=True) == "pinned"
    assert chosen("h.toml") is None  # the host decides: colocated, or not placed on windows
    assert chosen(None) == "colocated"
