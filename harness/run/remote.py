"""A run on other hosts (`run --hosts FILE`): the servers on one server host,
the load from one or more client hosts, all through OpenSSH.

Topology is what the rest of the run needs to know of that: it checks the
hosts before anything starts (reachable, every executable this build's),
reads what each host is (its OS, CPU and cores, for the manifest: the
platform of a remote run is the server host's), gives the server's command
(an SSH channel: harness.hosts.HostsFile.server_command) and runs a point's
load from the client hosts (harness.clients). RemoteServers is the run's
server registry on such a host, in the place of the local BuiltServers."""
from dataclasses import dataclass, field

from harness import clients, deploy, hosts, models
from harness.loadgen import LoadgenResult
from harness.run.errors import RunError
from harness.run.remote_placement import ServerPlacer
from harness.suites import default_platform_of

# What each platform says of itself, one fact per line (cmd.exe on Windows).
FACT_COMMANDS = {
    "posix": "uname -srm; nproc; grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-",
    "windows": 'ver & echo %NUMBER_OF_PROCESSORS% & echo %PROCESSOR_IDENTIFIER%',
}


@dataclass
class Topology:
    hosts_file: hosts.HostsFile
    server: hosts.Host
    clients: list
    # Where another build's servers are on the server host (an ab run's base): variant name -> host.
    variant_hosts: dict = field(default_factory=dict)

    @classmethod
    def choose(cls, hosts_file, server_name=None, client_names=None):
        """The run's server host and client hosts: the names given, else the
        hosts file's [run] table. RunError (one line) when they do not make a run."""
        try:
            server = hosts_file.host(server_name or hosts_file.server or "")
            names = client_names or hosts_file.clients
            if not names:
                raise RunError(f"{hosts_file.path}: no client hosts (--client-hosts A,B or [run] clients)")
            client_hosts = [hosts_file.host(name) for name in names]
        except hosts.HostsError as error:
            if not (server_name or hosts_file.server):
                raise RunError(f"{hosts_file.path}: no server host (--server-host NAME or [run] server)") from None
            raise RunError(str(error)) from None
        if len({h.name for h in client_hosts}) != len(client_hosts):
            raise RunError("--client-hosts names a host twice")
        if any(h.platform == "windows" for h in client_hosts):
            raise RunError("client hosts run the Linux load generator for now: a windows client host is not supported")
        return cls(hosts_file, server, client_hosts)

    @classmethod
    def from_manifest(cls, data):
        """The topology a run recorded (for --resume): its hosts file, read again."""
        try:
            hosts_file = hosts.load_hosts(data["hosts_file"])
        except hosts.HostsError as error:
            raise RunError(f"the run's hosts file: {error}") from None
        return cls.choose(hosts_file, data["server"]["name"], [c["name"] for c in data["clients"]])

    def check(self, servers):
        """Before anything runs: every host reachable and holding this build's
        executables (`deploy --check`). RunError naming the host otherwise."""
        programs_by_host = {self.server.name: (self.server, servers)}
        for host in self.clients:
            programs_by_host[host.name] = (host, ["loadgen"])
        for host, programs in programs_by_host.values():
            try:
                deploy.check_reachable(self.hosts_file, host)
                deploy.check_versions(self.hosts_file, host, programs)
            except deploy.DeployError as error:
                raise RunError(str(error)) from None

    def host_facts(self, host):
        """{"os", "cpu_count", "cpu_model"} as the host reports them (None where it does not)."""
        command = FACT_COMMANDS["windows" if host.platform == "windows" else "posix"]
        code, output = deploy.ssh_output(self.hosts_file, host, command)
        lines = [line.strip() for line in (output or "").splitlines() if line.strip()] if code == 0 else []
        facts = {"os": None, "cpu_count": None, "cpu_model": None}
        if len(lines) >= 3:
            facts["os"], facts["cpu_model"] = lines[0], lines[2]
            facts["cpu_count"] = int(lines[1]) if lines[1].isdigit() else None
        return facts

    def to_manifest(self):
        def entry(host, role):
            return {"name": host.name, "role": role, "platform": host.platform, "ssh": host.ssh,
                    "address": host.address, "dir": host.dir, **self.host_facts(host)}
        return {"hosts_file": str(self.hosts_file.path), "server": entry(self.server, "server"),
                "clients": [entry(host, "client") for host in self.clients],
                "network": f"clients -> {self.server.address} over the hosts' own network"}

    def placer(self, placement, server):
        """What places one start of `server` on the server host (and reads
        it back), or None where nothing is placed there."""
        if placement is None or placement.not_placed:
            return None
        return ServerPlacer(self.hosts_file, self.server, placement, self.server.is_windows_program(server))

    def run_load(self, point, port, threads, timeout):
        """A point's load from the client hosts: (LoadgenResult with the merged
        document, {host: argv})."""
        options = dict(point.loadgen_args)
        if threads is not None:
            options["threads"] = threads
        connect_timeout = float(options.get("connect-timeout", 5))
        try:
            result = clients.run_clients(self.hosts_file, self.clients, self.server.address, port, point.workload,
                                         options, connect_timeout=connect_timeout, run_timeout=timeout)
        except clients.ClientsError as error:
            return LoadgenResult(None, None, "", str(error)), {}
        per_host_stderr = "\n".join(f"--- {name} ---\n{stderr}" for name, _, _, stderr in result.per_host)
        exit_code = result.document.get("exit_code") if result.document else None
        return LoadgenResult(result.document, exit_code, per_host_stderr[-4000:], result.failure), result.argv


class RemoteServers:
    """The server registry of a run on a server host: the models that host's
    platform runs, each started over SSH."""

    def __init__(self, topology):
        self.topology = topology
        host = topology.server
        self.names = [name for name in models.all_models()
                      if host.platform == "wine" or models.is_winsock(name) == (host.platform == "windows")]

    def skip_reason(self, server):
        host = self.topology.server
        return None if server in self.names else f"not on server host {host.name} ({host.platform})"

    def command(self, server, variant):
        host = self.topology.server if variant.name == "current" else self.topology.variant_hosts.get(variant.name)
        if host is None:
            raise RunError(f"the {variant.name} build is not on host {self.topology.server.name}: an ab run "
                           "deploys it there itself, and cannot be resumed")
        if server not in self.names:
            raise RunError(f"server host {host.name} ({host.platform}) cannot run {server}")
        return self.topology.hosts_file.server_command(host, server)

    def needs_wine(self, server):
        return False  # a Wine server host has its own wineserver, not this run's

    def platform(self, server):
        return default_platform_of(server)
