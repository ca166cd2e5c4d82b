"""Placement on the server host of a run on other hosts (`run --hosts`):
the server and the Wine processes that serve it are placed there, over the
same SSH that starts the server; the load generators, on their own hosts,
are not placed.

What each mode means there, with CPUS the CPUs a process started over SSH
may use on the server host (its sshd's affinity, read at the run's start):
- colocated (the default): the server and its Wine processes on all of
  CPUS: nothing else of the run is on that host to keep them from, and
  pinning them there undoes what an earlier run left pinned;
- split: the server on CPUS but the last, its Wine processes on the last
  (the wineserver is one thread): the worst case, as on one machine;
- pinned: the server as in split, Wine's processes on all of CPUS;
- free: nothing pinned: the server runs with sshd's affinity, and Wine's
  processes are moved back to all of CPUS.
split and pinned need 2 CPUs there. Only a POSIX server host (linux, wine)
can be placed this way: the server starts under a launcher that pins it
before it runs (taskset, so its later threads inherit it) and marks it
for the read-back; a windows host runs without placement (mode free), and
its manifest and records say why (`not_placed`).

At the start of the load (just after the Wine processes are moved) and at
its end, one SSH command reads what the server and the wineserver may run
on from the host's /proc, as harness.run.placement does here."""
import secrets
import shlex
from pathlib import Path

from harness import deploy
from harness.platforms.procfs import parse_cpu_list
from harness.run.errors import RunError
from harness.run.placement import DEFAULT_MODE, MODES, Placement

SCRIPT_PATH = Path(__file__).with_name("place_on_host.sh")
# Exported by the launcher, read back by the script: this token and the pid of the
# process that exported it, which the server keeps through every exec after it.
MARK = 'WSB_SERVER=$0:$$; export WSB_SERVER; exec "$@"'
# What placing needs on the host, then the CPUs a process started over SSH may use there.
USABLE_COMMAND = ("command -v taskset >/dev/null || { echo 'taskset not found (util-linux)'; exit 3; }; "
                  "sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status")
WINDOWS_REASON = ("a windows server host: the harness places processes over SSH only on linux and wine hosts "
                  "(the servers ran where Windows put them)")


def script_text():
    """The placing script without its comment lines: it travels on each SSH command line."""
    lines = SCRIPT_PATH.read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#")) + "\n"


def plan_on_host(mode, host, usable):
    """The Placement of `mode` on the server host `host` (a harness.hosts.Host)
    whose processes may use `usable` CPUs. mode None: the default. RunError
    (one line) where the mode cannot be had there."""
    if mode is not None and mode not in MODES:
        raise RunError(f"unknown placement '{mode}' (one of: {', '.join(MODES)})")
    if host.platform == "windows":
        if mode not in (None, "free"):
            raise RunError(f"--placement {mode}: server host {host.name} runs Windows, and the harness places "
                           "processes over SSH only on linux and wine hosts (leave --placement out, or use free)")
        return Placement("free", None, None, None, None, host=host.name, not_placed=WINDOWS_REASON)
    mode = mode or DEFAULT_MODE
    usable = tuple(usable)
    if mode == "free":
        return Placement(mode, None, None, None, usable, host=host.name)
    if mode == "colocated":
        return Placement(mode, usable, usable, None, usable, host=host.name)
    if len(usable) < 2:
        raise RunError(f"--placement {mode} needs at least 2 CPUs on server host {host.name}, where a process "
                       f"may use {len(usable)} (use colocated or free)")
    server, last = usable[:-1], usable[-1:]
    return Placement(mode, server, last if mode == "split" else None, None, usable, host=host.name)


def plan_remote(topology, mode, ssh=deploy.ssh_output):
    """The Placement of `mode` on the topology's server host, its CPUs read
    over SSH (a windows host is not asked)."""
    host = topology.server
    if host.platform == "windows":
        return plan_on_host(mode, host, ())
    code, output = ssh(topology.hosts_file, host, USABLE_COMMAND)
    usable = parse_cpu_list(output) if code == 0 else None
    if usable is None:
        raise RunError(f"server host {host.name}: cannot place processes there "
                       f"({' '.join((output or f'exit {code}').split())[:200]})")
    return plan_on_host(mode, host, usable)


def parse_reading(output):
    """{"server_cpus", "wineserver_cpus", "loadgen_cpus"} from the script's
    lines ("server PID 0 1-2": each CPU list one thread or more may use);
    None where a process was not found. The load generator is not on this host."""
    reading = {"server_cpus": None, "wineserver_cpus": None, "loadgen_cpus": None}
    for line in (output or "").splitlines():
        role, _, rest = line.partition(" ")
        key = f"{role}_cpus"
        if key not in reading or reading[key] is not None:
            continue  # not a reading, or a second wineserver (one is ending): the first counts
        cpus = set()
        for cpu_list in rest.split()[1:]:
            cpus.update(parse_cpu_list(cpu_list) or ())
        reading[key] = sorted(cpus) or None
    return reading


class ServerPlacer:
    """The placement of one server start on a POSIX server host: the
    launcher its command runs under, and the read-backs. Each start has its
    own token, so that a server still ending is never taken for the next."""

    def __init__(self, hosts_file, host, placement, under_wine, ssh=deploy.ssh_output):
        self.hosts_file, self.host, self.placement, self.under_wine = hosts_file, host, placement, under_wine
        self.ssh = ssh
        self.token = secrets.token_hex(8)

    def launcher(self):
        """The words the server's command line starts with on the host."""
        pin = ["taskset", "-c", cpu_list_text(self.placement.server_cpus)] if self.placement.server_cpus else []
        return ["sh", "-c", MARK, self.token, *pin]

    def launching(self, command):
        """The server's command (HostsFile.server_command's) run under the launcher."""
        return lambda arguments: command(arguments, launcher=self.launcher())

    def place_and_read(self):
        """Moves the Wine processes where the mode puts them, then reads back."""
        wine_cpus = self.placement.wine_cpus or self.placement.all_cpus
        return self._run(cpu_list_text(wine_cpus) if self.under_wine and wine_cpus else "")

    def read(self):
        return self._run("")

    def _run(self, wine_cpus):
        command = shlex.join(["sh", "-c", script_text(), "sh", self.token, "1" if self.under_wine else "0",
                              wine_cpus])
        code, output = self.ssh(self.hosts_file, self.host, command)
        return parse_reading(output if code == 0 else "")


def cpu_list_text(cpus):
    return ",".join(str(cpu) for cpu in cpus)
