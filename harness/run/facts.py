"""Facts about the machine and the source tree that a run records once, in
its manifest: platform, CPU, compiler, Wine version (the platform layer's
facts), git commit. (Where the processes run is harness.run.placement's.)"""
import subprocess

from harness import platforms
from harness.platforms.base import command_output


def git_state(tree):
    """(commit, dirty) of a git tree; (None, None) outside git."""
    commit = command_output(["git", "rev-parse", "HEAD"], cwd=tree)
    if commit is None:
        return None, None
    try:
        status = subprocess.run(["git", "status", "--porcelain"], cwd=tree, capture_output=True, text=True,
                                timeout=60, stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.TimeoutExpired):
        return commit, None
    return commit, bool(status.strip())


def platform_facts(with_wine, servers_dir=None, system=None):
    """The manifest's `platform` (servers_dir: the build whose compiler it names, on Windows)."""
    return (system or platforms.current()).facts(with_wine, servers_dir)
