"""Test hosts of our own: network namespaces joined by a bridge, each running
its own sshd, for testing what crosses a network (issue: remote hosts over SSH).

Nothing here reaches beyond this machine. Every host is a network namespace
that the test creates; the addresses come from 198.18.0.0/15, the range RFC
2544 sets aside for benchmark tests, so they cannot collide with a real network
this machine is on. The root namespace (where the harness runs) gets one leg
on the bridge too, so `ssh` from the test reaches every host, as it would reach
lab machines.

    with TestNet(hosts=2) as net:
        net.ssh(net.hosts[0], "true")      # argv for subprocess, through the test's ssh_config

Layout, for hosts=2 (names carry the creating process's id and a serial, so
two networks on one machine never meet, and a killed run's leftovers are
recognised):

    root namespace: leg 198.18.<n>.254 --+
                                         |  bridge br0 in namespace wsb<pid>-<serial>-switch
    wsb<pid>-<serial>-h0: eth0 ----------+  198.18.<n>.1, sshd on port 22
    wsb<pid>-<serial>-h1: eth0 ----------+  198.18.<n>.2, sshd on port 22

Everything is removed on exit, also after a failure; remove_leftovers() clears
what a killed run left behind (its namespaces, its sshd processes)."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"
PREFIX = "wsb"
NAME = re.compile(rf"^{PREFIX}(?P<pid>\d+)-(?P<serial>\d+)-")
_serials = iter(range(1 << 30))
COMMAND_TIMEOUT = 20
SSHD_READY_TIMEOUT = 10


class TestNetError(Exception):
    """The test network could not be made; the message says what failed."""


def run(argv, timeout=COMMAND_TIMEOUT, check=True):
    """A setup command; TestNetError with its stderr when it fails."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise TestNetError(f"{' '.join(argv)}: {error}") from None
    if check and done.returncode != 0:
        raise TestNetError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")
    return done


def unavailable_reason():
    """Why this machine cannot host test networks, or None if it can."""
    if os.geteuid() != 0:
        return "needs root (ip netns)"
    for tool in ("ip", "ssh", "ssh-keygen", SSHD):
        if not shutil.which(tool):
            return f"{tool} not installed (scripts/setup.sh installs iproute2 and openssh-server)"
    return None


@dataclass
class Host:
    name: str        # the ssh_config Host alias
    namespace: str
    address: str


def _namespaces():
    done = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_namespace_processes(namespace):
    """Every process still inside a namespace (a leftover sshd or server)."""
    done = run(["ip", "netns", "pids", namespace], check=False)
    for text in done.stdout.split():
        try:
            os.kill(int(text), signal.SIGKILL)
        except (ValueError, ProcessLookupError):
            pass


def light_wine_prefix(original, folder):
    """A Wine prefix for one test host: its own registry files, the original's
    drive_c shared through links. Wine runs one wineserver per prefix folder,
    and a program's sockets are the wineserver's: a host with its own prefix
    gets a wineserver started inside its namespace, so its servers listen on
    the host's own address. A copy of the whole prefix would do the same, at
    700 MB."""
    folder = Path(folder)
    (folder / "dosdevices").mkdir(parents=True)
    (folder / "drive_c").symlink_to(Path(original) / "drive_c")
    (folder / "dosdevices" / "c:").symlink_to("../drive_c")
    (folder / "dosdevices" / "z:").symlink_to("/")
    for name in ("system.reg", "user.reg", "userdef.reg", ".update-timestamp"):
        shutil.copy2(Path(original) / name, folder / name)
    return folder


def remove_leftovers(only_pid=None, only_serial=None):
    """Removes the namespaces of test networks whose creating process is gone
    (or, with only_pid and only_serial, those of one network of that process),
    with the processes inside them and the root legs. Returns the namespaces
    removed."""
    removed = []
    for namespace in _namespaces():
        match = NAME.match(namespace)
        if not match:
            continue
        owner = int(match["pid"])
        if only_pid is None and _pid_alive(owner):
            continue
        if only_pid is not None and (owner, int(match["serial"])) != (only_pid, only_serial):
            continue
        _kill_namespace_processes(namespace)
        run(["ip", "netns", "del", namespace], check=False)
        removed.append(namespace)
    for owner, serial in {(int(NAME.match(n)["pid"]), int(NAME.match(n)["serial"])) for n in removed}:
        run(["ip", "link", "del", _link_name(owner, serial, "r")], check=False)
    return removed


def _link_name(pid, serial, role):
    """A link's name: at most 15 characters (IFNAMSIZ), so the pid in hex."""
    return f"w{pid:x}.{serial:x}{role}"


class TestNet:
    """`hosts` test hosts with sshd, reachable from here by ssh through
    `ssh_config`; a context manager that removes everything on exit."""

    def __init__(self, hosts=2, subnet=None):
        if not 1 <= hosts <= 200:
            raise ValueError("hosts must be 1..200")
        self.count = hosts
        self.serial = next(_serials)
        self.tag = f"{PREFIX}{os.getpid()}-{self.serial}"
        # One /24 per network, so that concurrent networks (two test runs, or two
        # networks of one run) never share an address in the root namespace.
        self.subnet = subnet if subnet is not None else (os.getpid() + 7 * self.serial) % 250 + 1
        self.switch = f"{self.tag}-switch"
        self.root_leg = _link_name(os.getpid(), self.serial, "r")
        self.root_address = f"198.18.{self.subnet}.254"
        self.hosts = [Host(f"host{i}", f"{self.tag}-h{i}", f"198.18.{self.subnet}.{i + 1}") for i in range(hosts)]
        self.folder = None
        self.ssh_config = None
        self.sshd_pids = {}

    # --- lifecycle -------------------------------------------------------

    def __enter__(self):
        reason = unavailable_reason()
        if reason:
            raise TestNetError(reason)
        remove_leftovers()
        self.folder = Path(tempfile.mkdtemp(prefix="wsb-testnet-"))
        try:
            self._make_switch()
            for index, host in enumerate(self.hosts):
                self._make_host(index, host)
            self._make_keys()
            for host in self.hosts:
                self._start_sshd(host)
            self._write_ssh_config()
            for host in self.hosts:
                self._wait_for_sshd(host)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        for pid in self.sshd_pids.values():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        remove_leftovers(only_pid=os.getpid(), only_serial=self.serial)
        run(["ip", "link", "del", self.root_leg], check=False)
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    # --- the network -----------------------------------------------------

    def _make_switch(self):
        run(["ip", "netns", "add", self.switch])
        self.exec_in(self.switch, ["ip", "link", "add", "br0", "type", "bridge"])
        self.exec_in(self.switch, ["ip", "link", "set", "br0", "up"])
        self._attach(None, self.root_leg, self.root_address)

    def _make_host(self, index, host):
        run(["ip", "netns", "add", host.namespace])
        self.exec_in(host.namespace, ["ip", "link", "set", "lo", "up"])
        self._attach(host.namespace, _link_name(os.getpid(), self.serial, f"h{index}"), host.address)

    def _attach(self, namespace, leg, address):
        """A veth pair: one end `leg` (renamed eth0 inside a host), the other on the bridge."""
        port = f"{leg}p"
        run(["ip", "link", "add", leg, "type", "veth", "peer", "name", port])
        run(["ip", "link", "set", port, "netns", self.switch])
        self.exec_in(self.switch, ["ip", "link", "set", port, "master", "br0"])
        self.exec_in(self.switch, ["ip", "link", "set", port, "up"])
        if namespace is None:
            run(["ip", "addr", "add", f"{address}/24", "dev", leg])
            run(["ip", "link", "set", leg, "up"])
            return
        run(["ip", "link", "set", leg, "netns", namespace])
        self.exec_in(namespace, ["ip", "link", "set", leg, "name", "eth0"])
        self.exec_in(namespace, ["ip", "addr", "add", f"{address}/24", "dev", "eth0"])
        self.exec_in(namespace, ["ip", "link", "set", "eth0", "up"])

    @staticmethod
    def exec_in(namespace, argv, **kwargs):
        return run(["ip", "netns", "exec", namespace, *argv], **kwargs)

    # --- ssh -------------------------------------------------------------

    def _make_keys(self):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "wsb-test-client", "-f", str(self.client_key)])
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "wsb-test-host", "-f", str(self.host_key)])
        (self.folder / "authorized_keys").write_text(Path(f"{self.client_key}.pub").read_text())
        host_public = Path(f"{self.host_key}.pub").read_text().split()
        known = "".join(f"{h.address} {host_public[0]} {host_public[1]}\n" for h in self.hosts)
        (self.folder / "known_hosts").write_text(known)

    @property
    def client_key(self):
        return self.folder / "client_key"

    @property
    def host_key(self):
        return self.folder / "host_key"

    def _sshd_config(self, host):
        # StrictModes off: the keys live in a temporary folder, not in a home.
        # UsePAM off: no login session machinery for a test host.
        return "\n".join([
            f"ListenAddress {host.address}", "Port 22",
            f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {self.folder / 'authorized_keys'}",
            f"PidFile {self.folder / (host.name + '.pid')}",
            "PermitRootLogin prohibit-password", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
            "Subsystem sftp internal-sftp", "LogLevel ERROR", "",
        ])

    def _start_sshd(self, host):
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
        config = self.folder / f"{host.name}.sshd_config"
        config.write_text(self._sshd_config(host))
        log = open(self.folder / f"{host.name}.sshd.log", "w")
        process = subprocess.Popen(["ip", "netns", "exec", host.namespace, SSHD, "-D", "-e", "-f", str(config)],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        self.sshd_pids[host.name] = process.pid

    def _write_ssh_config(self):
        self.ssh_config = self.folder / "ssh_config"
        blocks = [f"Host {h.name}\n  HostName {h.address}\n" for h in self.hosts]
        common = (f"Host *\n  User root\n  IdentityFile {self.client_key}\n  IdentitiesOnly yes\n"
                  f"  UserKnownHostsFile {self.folder / 'known_hosts'}\n  StrictHostKeyChecking yes\n"
                  "  BatchMode yes\n  ConnectTimeout 5\n  LogLevel ERROR\n")
        self.ssh_config.write_text("".join(blocks) + common)

    def _wait_for_sshd(self, host):
        deadline = time.monotonic() + SSHD_READY_TIMEOUT
        while True:
            done = run(self.ssh(host, "true"), check=False)
            if done.returncode == 0:
                return
            if time.monotonic() > deadline:
                log = (self.folder / f"{host.name}.sshd.log").read_text(errors="replace").strip()
                raise TestNetError(f"sshd on {host.name} ({host.address}) did not answer: "
                                   f"{done.stderr.strip()} {log}".strip())
            time.sleep(0.2)

    def restart_sshd(self, host):
        """Starts a host's sshd again (after a test killed it), and waits for it."""
        old = self.sshd_pids.get(host.name)
        if old and _pid_alive(old):
            os.kill(old, signal.SIGKILL)
        self._start_sshd(host)
        self._wait_for_sshd(host)

    def ssh(self, host, *command):
        """argv that runs `command` on `host` through the test's ssh_config."""
        return ["ssh", "-F", str(self.ssh_config), host.name, *command]
