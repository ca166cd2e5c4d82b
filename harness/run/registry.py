"""The servers a run can start: which builds (variants) and how each server
is started, plus the paths the manifest records relative to the project."""
from dataclasses import dataclass
from pathlib import Path

from harness import platforms
from harness.run.errors import RunError
from harness.run.facts import git_state
from harness.servers import ROOT


@dataclass
class Variant:
    """One build of the servers: "current" (the working tree's build) or, in
    `ab`, "base" (another revision's build in a temporary tree). native_dir
    is None where no native server is built (Windows)."""
    name: str
    winsock_dir: Path
    native_dir: Path | None
    commit: str | None = None
    dirty: bool | None = None

    def to_manifest(self):
        return {"commit": self.commit, "dirty": self.dirty, "servers_dir": relative(self.winsock_dir),
                "native_dir": relative(self.native_dir) if self.native_dir else None}

    @classmethod
    def from_manifest(cls, name, data):
        native = data.get("native_dir")
        return cls(name, absolute(data["servers_dir"]), absolute(native) if native else None, data.get("commit"),
                   data.get("dirty"))


class BuiltServers:
    """A run's server registry (every registry has these members: names,
    skip_reason, command, needs_wine, platform). The real servers: every model of the registry (servers/*/model.json)
    this platform runs (harness.platforms: on Linux the Winsock ones under
    Wine), from each variant's build folders."""

    def __init__(self, system=None):
        self.system = system or platforms.current()

    @property
    def names(self):
        return self.system.models()

    def skip_reason(self, server):
        return self.system.skip_reason(server)

    def command(self, server, variant):
        return self.system.server_command(server, variant.winsock_dir, variant.native_dir)

    def needs_wine(self, server):
        return self.system.runs_under_wine(server)

    def platform(self, server):
        return self.system.runtime_of(server)


def current_variant(system=None):
    """The working tree's build, where this platform keeps it (WSB_MINGW_DIR and
    WSB_NATIVE_DIR override)."""
    system = system or platforms.current()
    commit, dirty = git_state(ROOT)
    return Variant("current", system.winsock_servers_dir(), system.native_servers_dir(), commit, dirty)


def split_runnable(servers, registry):
    """(servers the registry can start here, {server: reason} of the others):
    a suite that names reference-epoll runs on Windows without it."""
    reasons = {server: registry.skip_reason(server) for server in servers if registry.skip_reason(server)}
    return [server for server in servers if server not in reasons], reasons


def check_commands(items, variants, registry):
    """Every server of the plan must be built before anything runs."""
    for server, variant in sorted({(i["server"], i["variant"]) for i in items}):
        try:
            registry.command(server, variants[variant])
        except FileNotFoundError as missing:
            if variant != "current":
                raise RunError(f"{missing.args[0].split(';')[0]}: the {variant} build of an ab run was "
                               "temporary, so that run cannot be resumed") from None
            raise RunError(str(missing)) from None


def relative(path):
    path = Path(path).resolve()
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def absolute(text):
    path = Path(text)
    return path if path.is_absolute() else ROOT / path
