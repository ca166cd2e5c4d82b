"""The project's version (the VERSION file at the top of the tree, the one
place it is stated) and the git commit of this tree, as every executable's
--version prints them: "<program> winsock-bench <version> <commit>".
cmake/version.cmake computes the same line for the C programs, so a built
server and the harness that runs it can be checked against each other."""
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def project_version():
    try:
        return (ROOT / "VERSION").read_text(encoding="utf-8").split()[0]
    except (OSError, IndexError):
        return "unknown"


def _git(*args):
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def commit():
    """The short commit, with -dirty when tracked files differ from it; "unknown" outside git."""
    head = (_git("rev-parse", "--short=12", "HEAD") or "").strip()
    if not head:
        return "unknown"
    changes = _git("status", "--porcelain", "--untracked-files=no")
    return f"{head}-dirty" if changes else head


def version_line(program):
    return f"{program} winsock-bench {project_version()} {commit()}"


if __name__ == "__main__":  # python3 -m harness.version PROGRAM: the scripts' --version
    import sys
    print(version_line(sys.argv[1] if len(sys.argv) > 1 else "winsock-bench"))
