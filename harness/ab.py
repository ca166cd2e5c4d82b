"""`ab`: builds the servers of another git revision in a temporary worktree,
then runs a suite with both builds interleaved in one run ("base" and
"current"), and compares them. On a shared, noisy machine two separate runs
differ by more than most regressions; interleaving puts both builds under the
same noise."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import models, platforms, stats
from harness import run as runner
from harness.platforms import layout
from harness.servers import ROOT

BUILD_TIMEOUT = 1800
# Fewer repetitions a side give no 95% interval of a median, so the ratio has
# none (stats.ratio_interval) and nothing could be flagged: ab uses at least
# this many (6), whatever the suite says, unless --reps sets the count.
MIN_REPS = stats.min_reps_for_interval()
GIT_TIMEOUT = 300


class AbError(runner.RunError):
    """An ab run that cannot proceed; one line."""


def git(*args, timeout=GIT_TIMEOUT, check=True):
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if check and done.returncode != 0:
        message = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise AbError(f"git {' '.join(args)}: {message}")
    return done


def resolve_revision(revision):
    """The full commit hash of a revision (a branch, tag, hash or HEAD~3)."""
    if revision.startswith("-"):
        raise AbError(f"--base {revision!r} is not a git revision")
    done = git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise AbError(f"--base {revision}: not a commit in {ROOT}")
    return done.stdout.strip()


def check_preset(tree, name):
    """The base revision must define the configure preset the build uses here
    (its own toolchain, generator and cache variables, which may differ from ours)."""
    try:
        presets = json.loads((tree / "CMakePresets.json").read_text())
        names = {preset.get("name") for preset in presets.get("configurePresets", [])}
    except (OSError, ValueError, AttributeError):
        names = set()
    if name not in names:
        raise AbError(f"the base revision has no {name!r} configure preset in CMakePresets.json")


def cmake(args, log, what, cwd=None):
    """Runs cmake with its output in the log; one line and the log's tail on failure."""
    with open(log, "a") as out:
        out.write(f"$ cmake {' '.join(map(str, args))}\n")
        out.flush()
        try:
            done = subprocess.run(["cmake", *map(str, args)], stdout=out, stderr=subprocess.STDOUT,
                                  timeout=BUILD_TIMEOUT, stdin=subprocess.DEVNULL, cwd=cwd)
        except subprocess.TimeoutExpired:
            raise AbError(f"{what} took longer than {BUILD_TIMEOUT} s") from None
        except OSError as error:
            raise AbError(f"{what}: cmake cannot run: {error}") from None
    if done.returncode != 0:
        tail = "".join(Path(log).read_text().splitlines(keepends=True)[-15:])
        raise AbError(f"{what} failed (cmake exit {done.returncode}); last lines:\n{tail}")


def base_presets(system, current, servers):
    """{preset: [servers]}: the base builds each server with the preset the
    current build of it comes from (on Linux mingw and native; on Windows
    windows, or windows-mingw when that is the build the harness found)."""
    winsock_preset = system.preset_of(current.winsock_dir) or system.winsock_presets[0]
    native_preset = system.native_presets[0] if system.native_presets else None
    groups = {}
    for server in servers:
        preset = winsock_preset if models.is_winsock(server) else native_preset
        groups.setdefault(preset, []).append(server)
    return groups


def build_base(tree, commit, servers, stream, system, current):
    """Builds only the given servers (no tests) of the base tree, each with
    this platform's preset, as the base revision defines it; its Variant."""
    jobs = str(os.cpu_count() or 2)
    log = tree / "ab-build.log"
    winsock_dir, native_dir = layout.PRESETS[system.winsock_presets[0]].servers_dir(tree), None
    for preset, members in base_presets(system, current, servers).items():
        check_preset(tree, preset)
        stream.write(f"ab: building {', '.join(members)} at {commit[:12]} ({preset})\n")
        cmake(["--preset", preset], log, f"configuring the base {preset} build", cwd=tree)
        build = layout.PRESETS[preset].folder(tree)
        cmake(["--build", build, "--config", layout.CONFIGURATION, "--parallel", jobs, "--target", *members], log,
              f"building {', '.join(members)} at {commit[:12]} (does it have them? --servers picks fewer)")
        generator = layout.cmake_cache(build).get("CMAKE_GENERATOR")
        servers_dir = layout.servers_dir_of(build, layout.is_multi_config(generator))
        if layout.PRESETS[preset].windows_programs:
            winsock_dir = servers_dir
        else:
            native_dir = servers_dir
    return runner.Variant("base", winsock_dir, native_dir, commit, False)


def deploy_base(topology, base, servers, stream):
    from harness import deploy
    try:
        return deploy.deploy_variant(topology.hosts_file, topology.server, base, servers,
                                     lambda text: stream.write(f"ab: {text}\n"))
    except deploy.DeployError as error:
        raise AbError(str(error)) from None


def remove_worktree(tree, stream):
    """Always runs: the worktree and its git bookkeeping go, whatever happened."""
    done = git("worktree", "remove", "--force", str(tree), check=False)
    if done.returncode != 0 and tree.exists():
        shutil.rmtree(tree, ignore_errors=True)
    git("worktree", "prune", check=False)
    if tree.exists():
        stream.write(f"ab: warning: could not remove {tree}\n")


def run_ab(base_revision, suite, servers, out=None, reps=None, seed=runner.DEFAULT_SEED, placement=None,
           threshold=5.0, stream=None, allow_different=False, topology=None):
    """Builds base, runs base and current interleaved, prints the comparison.
    Exit code: 1 on a regression or a failed run item, 2 when the two builds differ
    in more than their commit (compare.differences) unless allow_different, 0 otherwise."""
    stream = stream or sys.stderr
    reps = reps or max(suite.reps, MIN_REPS)
    commit = resolve_revision(base_revision)
    system = platforms.current()
    current = runner.current_variant(system)
    out = out or runner.RUNS_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-ab-{suite.name}"
    workspace = Path(tempfile.mkdtemp(prefix="wsb-ab-"))
    tree = workspace / "tree"
    try:
        git("worktree", "add", "--detach", str(tree), commit)
        base = build_base(tree, commit, [s for s in servers if not system.skip_reason(s)], stream, system, current)
        if topology:  # the base build goes to the server host too, beside the current one
            topology.variant_hosts[base.name] = deploy_base(topology, base, servers, stream)
        code, run_dir = runner.new_run(suite, servers, out=out, reps=reps, seed=seed, placement=placement,
                                       variants=[base, current], stream=stream, topology=topology)
    finally:
        remove_worktree(tree, stream)
        shutil.rmtree(workspace, ignore_errors=True)
    if code == 130:
        return code
    from harness import compare
    stream.write(f"ab: base {commit[:12]} vs current {(current.commit or '?')[:12]}"
                 f"{' (dirty)' if current.dirty else ''}; run folder {run_dir}\n")
    # also flags cells only base completed
    compared = compare.main_variants(run_dir, threshold, allow_different=allow_different)
    return compared if compared != 0 else (1 if code != 0 else 0)
