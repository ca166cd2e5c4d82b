"""Hosts files: the machines a run may use, reached with OpenSSH (no agent of
our own). Without a hosts file everything runs on this machine.

    # hosts.toml
    ssh_config = "~/.ssh/config"     # optional: passed to ssh and scp as -F
    connect_timeout = 10             # optional: seconds for each SSH connect (default 10)

    [hosts.winbox]
    ssh = "bench@winbox.lab"         # anything ssh accepts: user@host, an alias of your ssh config
    platform = "windows"             # windows | wine (Linux with Wine) | linux
    dir = 'C:\\winsock-bench'        # the folder that holds our executables there
    address = "192.0.2.10"           # what clients connect to (default: the host part of ssh)

    [hosts.client1]
    ssh = "client1"
    platform = "linux"
    dir = "/opt/winsock-bench"

    [run]                            # optional defaults for --server-host / --client-hosts
    server = "winbox"
    clients = ["client1"]

A wine host may say how Wine is started there: `wine = "wine64"` (the
default) or a wrapper such as this tree's scripts/wine-run."""
import shlex
import subprocess
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.models import is_winsock

PLATFORMS = ("windows", "wine", "linux")
DEFAULT_CONNECT_TIMEOUT = 10
HOST_KEYS = {"ssh", "platform", "dir", "address", "wine"}
TOP_KEYS = {"ssh_config", "connect_timeout", "hosts", "run"}


class HostsError(ValueError):
    """A hosts file that cannot be used; the message is one line naming the file and the host."""


@dataclass(frozen=True)
class Host:
    name: str
    ssh: str            # the ssh destination
    platform: str       # windows | wine | linux
    dir: str            # where our executables are, in the host's own path syntax
    address: str        # what clients connect to
    wine: str = "wine64"

    @property
    def runs_windows_programs(self):
        return self.platform in ("windows", "wine")

    def is_windows_program(self, program):
        """Whether this host runs `program` as the Windows build: always on
        Windows; on a wine host only the Winsock servers (reference-epoll and
        loadgen run natively there, without paying for Wine); never on Linux."""
        if self.platform == "wine":
            return program != "loadgen" and is_winsock(program)
        return self.platform == "windows"

    def build_of(self, program):
        """Which build a program on this host comes from: mingw or native."""
        return "mingw" if self.is_windows_program(program) else "native"

    def executable(self, program):
        """The path of one of our programs on this host ("iocp", "loadgen")."""
        if self.platform == "windows":
            return f"{self.dir.rstrip(chr(92) + '/')}\\{program}.exe"
        suffix = ".exe" if self.is_windows_program(program) else ""
        return f"{self.dir.rstrip('/')}/{program}{suffix}"

    def subfolder(self, name):
        """The same host with its executables in a subfolder (another build's)."""
        separator = "\\" if self.platform == "windows" else "/"
        return replace(self, dir=f"{self.dir.rstrip(separator)}{separator}{name}")

    def command_line(self, program, *args, launcher=()):
        """The remote command that runs one of our programs with args, quoted
        for the host's shell: cmd.exe on Windows (OpenSSH's default shell
        there), a POSIX shell elsewhere. launcher: words that run the program
        there (a POSIX host's only: the server's placement), before Wine's."""
        if self.platform == "windows":
            if launcher:
                raise ValueError(f"host {self.name}: a windows host's commands take no launcher")
            return subprocess.list2cmdline([self.executable(program), *args])
        argv = [self.executable(program), *args]
        if self.is_windows_program(program):
            argv = [*shlex.split(self.wine), *argv]
        return shlex.join([*launcher, *argv])


@dataclass
class HostsFile:
    path: Path
    hosts: dict[str, Host]
    ssh_config: str | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    server: str | None = None
    clients: list[str] = field(default_factory=list)

    def host(self, name):
        if name not in self.hosts:
            raise HostsError(f"{self.path}: no host named {name!r}; known: {', '.join(sorted(self.hosts))}")
        return self.hosts[name]

    def ssh_options(self):
        """Options every ssh and scp call gets: never a password prompt, a bounded connect."""
        options = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={int(round(self.connect_timeout))}"]
        if self.ssh_config:
            options = ["-F", self.ssh_config, *options]
        return options

    def ssh_argv(self, host, remote_command):
        return ["ssh", *self.ssh_options(), host.ssh, remote_command]

    def server_command(self, host, model):
        """A function of the server's arguments giving the argv that runs `model`
        on `host` over SSH, listening on the host's address; for EchoServer.
        Its ready and stats lines come back through the SSH channel, and closing
        our end of it is end-of-file on the server's stdin: its stop. The
        function's `launcher` goes before the program (Host.command_line)."""
        def argv(arguments, launcher=()):
            return self.ssh_argv(host, host.command_line(model, "--bind", host.address, *arguments,
                                                         launcher=launcher))
        return argv

    def scp_argv(self, host, files, remote_dir):
        return ["scp", "-q", *self.ssh_options(), *[str(f) for f in files], f"{host.ssh}:{remote_dir}"]


def _check_string(path, where, key, value):
    if not isinstance(value, str) or not value.strip():
        raise HostsError(f"{path}: {where}: {key} must be a non-empty string")
    return value


def _host(path, name, table):
    where = f"host {name!r}"
    if not isinstance(table, dict):
        raise HostsError(f"{path}: {where} must be a table ([hosts.{name}])")
    unknown = sorted(set(table) - HOST_KEYS)
    if unknown:
        raise HostsError(f"{path}: {where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(HOST_KEYS))}")
    for key in ("ssh", "platform", "dir"):
        if key not in table:
            raise HostsError(f"{path}: {where}: {key} is missing")
    ssh = _check_string(path, where, "ssh", table["ssh"])
    platform = table["platform"]
    if platform not in PLATFORMS:
        raise HostsError(f"{path}: {where}: platform must be one of {', '.join(PLATFORMS)}, not {platform!r}")
    directory = _check_string(path, where, "dir", table["dir"])
    address = _check_string(path, where, "address", table.get("address", _host_part(ssh)))
    wine = _check_string(path, where, "wine", table.get("wine", "wine64"))
    if "wine" in table and platform != "wine":
        raise HostsError(f"{path}: {where}: wine is only for platform \"wine\"")
    return Host(name=name, ssh=ssh, platform=platform, dir=directory, address=address, wine=wine)


def _host_part(destination):
    """The host of an ssh destination (user@host, ssh://user@host:port)."""
    text = destination.removeprefix("ssh://").rsplit("@", 1)[-1]
    if text.startswith("["):
        return text[1:text.index("]")] if "]" in text else text
    return text.split(":", 1)[0] if text.count(":") == 1 else text


def parse_hosts(text, path="hosts file"):
    """A HostsFile from TOML text; HostsError with one line otherwise."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise HostsError(f"{path}: not valid TOML: {error}") from None
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise HostsError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(TOP_KEYS))}")
    tables = data.get("hosts")
    if not isinstance(tables, dict) or not tables:
        raise HostsError(f"{path}: no [hosts.NAME] tables")
    hosts = {name: _host(path, name, table) for name, table in tables.items()}
    timeout = data.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 1 <= timeout <= 300:
        raise HostsError(f"{path}: connect_timeout must be a number of seconds from 1 to 300")
    ssh_config = data.get("ssh_config")
    if ssh_config is not None:
        ssh_config = str(Path(_check_string(path, "top level", "ssh_config", ssh_config)).expanduser())
    result = HostsFile(path=Path(path), hosts=hosts, ssh_config=ssh_config, connect_timeout=float(timeout))
    run = data.get("run", {})
    if not isinstance(run, dict) or set(run) - {"server", "clients"}:
        raise HostsError(f"{path}: [run] takes server and clients only")
    if "server" in run:
        result.server = result.host(_check_string(path, "[run]", "server", run["server"])).name
    clients = run.get("clients", [])
    if not isinstance(clients, list) or not all(isinstance(c, str) for c in clients):
        raise HostsError(f"{path}: [run] clients must be a list of host names")
    result.clients = [result.host(c).name for c in clients]
    return result


def load_hosts(path):
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise HostsError(f"{path}: cannot read the hosts file ({error})") from None
    return parse_hosts(text, path)
