"""The servers a run can start: which builds (variants) and how each server
is started, plus the paths the manifest records relative to the project."""
from dataclasses import dataclass
from pathlib import Path

from harness.run.errors import RunError
from harness.run.facts import git_state
from harness import models
from harness.servers import DEFAULT_MINGW_DIR, DEFAULT_NATIVE_DIR, ROOT, is_wine, server_command
from harness.suites import default_platform_of


@dataclass
class Variant:
    """One build of the servers: "current" (the working tree's build) or, in
    `ab`, "base" (another revision's build in a temporary tree)."""
    name: str
    mingw_dir: Path
    native_dir: Path
    commit: str | None = None
    dirty: bool | None = None

    def to_manifest(self):
        return {"commit": self.commit, "dirty": self.dirty, "servers_dir": relative(self.mingw_dir),
                "native_dir": relative(self.native_dir)}

    @classmethod
    def from_manifest(cls, name, data):
        native = data.get("native_dir") or str(DEFAULT_NATIVE_DIR)
        return cls(name, absolute(data["servers_dir"]), absolute(native), data.get("commit"), data.get("dirty"))


class BuiltServers:
    """The real servers: every model of the registry (servers/*/model.json),
    the Winsock ones under Wine, from each variant's build folders."""

    @property
    def names(self):
        return models.all_models()

    def command(self, server, variant):
        return server_command(server, variant.mingw_dir, variant.native_dir)

    def needs_wine(self, server):
        return is_wine(server)

    def platform(self, server):
        return default_platform_of(server)


def current_variant():
    commit, dirty = git_state(ROOT)
    return Variant("current", DEFAULT_MINGW_DIR, DEFAULT_NATIVE_DIR, commit, dirty)


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
