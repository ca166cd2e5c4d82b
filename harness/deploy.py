"""`deploy`: copies the built servers and loadgen to the hosts of a hosts file
with scp (over the same SSH as everything else), then asks every copy for its
--version, so that a stale executable on a host is refused before a run
starts instead of silently measuring an old build.

Which build goes where: the Windows executables (build/mingw) to windows
hosts, the native Linux ones (build/native: reference-epoll, loadgen) to
linux hosts, and to wine hosts the Winsock servers (run under Wine there) with
the native reference-epoll and loadgen (see Host.is_windows_program). What a fresh copy must answer is read from the build's own
generated version header, so no Windows program has to run here to know it."""
import re
import subprocess
import sys
from pathlib import Path

from harness.hosts import HostsError

ROOT = Path(__file__).resolve().parents[1]
BUILDS = {"mingw": ROOT / "build" / "mingw", "native": ROOT / "build" / "native"}
VERSION_DEFINE = re.compile(r'#define (WSB_VERSION|WSB_COMMIT) "([^"]*)"')
OUTPUT_TAIL = 300  # characters of a failed command's output kept in its message


class DeployError(Exception):
    """One line naming the host and what to do."""


def programs_for(host):
    """{program: local path} of what belongs on a host; DeployError when it is not built."""
    builds = {build: local_programs(build) for build in {host.build_of("loadgen"), host.build_of("iocp")}}
    found = {}
    for build, programs in builds.items():
        found.update({name: path for name, path in programs.items() if host.build_of(name) == build})
    return found


def local_programs(build):
    """{program: local path} of one build's servers and loadgen; DeployError when none is built."""
    folder = BUILDS[build]
    if build == "mingw":
        programs = {path.stem: path for path in sorted((folder / "servers").glob("*.exe"))}
        loadgen = folder / "loadgen" / "loadgen.exe"
    else:
        programs = {path.parent.name: path for path in sorted((folder / "servers").glob("*/*"))
                    if path.is_file() and path.name == path.parent.name}
        loadgen = folder / "loadgen" / "loadgen"
    if loadgen.is_file():
        programs["loadgen"] = loadgen
    if not programs:
        raise DeployError(f"nothing built in {folder}: run scripts/build.sh")
    return programs


def expected_version(build, program, builds=None):
    """What `program --version` of this build prints."""
    header = (builds or BUILDS)[build] / "generated" / "wsb_version.h"
    try:
        defines = dict(VERSION_DEFINE.findall(header.read_text(encoding="utf-8")))
    except OSError:
        raise DeployError(f"{header} is missing: run scripts/build.sh") from None
    return f"{program} winsock-bench {defines.get('WSB_VERSION', '?')} {defines.get('WSB_COMMIT', '?')}"


def ssh_output(hosts, host, remote_command):
    """Runs a command on a host; (exit code, output). Bounded by the connect timeout plus a margin."""
    try:
        done = subprocess.run(hosts.ssh_argv(host, remote_command), capture_output=True, text=True,
                              timeout=hosts.connect_timeout + 60, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, "no answer in time"
    except OSError as error:
        return None, f"cannot run ssh: {error}"
    return done.returncode, (done.stdout + done.stderr).strip()


def _tail(text):
    text = " ".join(text.split())
    return text if len(text) <= OUTPUT_TAIL else "..." + text[-OUTPUT_TAIL:]


def check_reachable(hosts, host):
    code, output = ssh_output(hosts, host, "exit 0")
    if code != 0:
        raise DeployError(f"host {host.name} ({host.ssh}): unreachable over SSH: {_tail(output) or 'exit ' + str(code)}"
                          " (check the address, the key, and that its SSH server runs)")


def make_folder(hosts, host):
    if host.platform == "windows":
        command = f'if not exist "{host.dir}" mkdir "{host.dir}"'
    else:
        command = f"mkdir -p -- '{host.dir}'"
    code, output = ssh_output(hosts, host, command)
    if code != 0:
        raise DeployError(f"host {host.name}: cannot create {host.dir}: {_tail(output)}")


def copy_files(hosts, host, files):
    remote_dir = host.dir.replace("\\", "/") if host.platform == "windows" else host.dir
    try:
        done = subprocess.run(hosts.scp_argv(host, files, remote_dir + "/"), capture_output=True, text=True,
                              timeout=hosts.connect_timeout + 600, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise DeployError(f"host {host.name}: copying the executables took too long") from None
    if done.returncode != 0:
        raise DeployError(f"host {host.name}: scp failed: {_tail(done.stderr)}")


def check_versions(hosts, host, programs, builds=None):
    """Every program's copy on the host answers the local build's --version; DeployError otherwise."""
    for program in programs:
        want = expected_version(host.build_of(program), program, builds)
        code, output = ssh_output(hosts, host, host.command_line(program, "--version"))
        got = output.splitlines()[-1].strip() if output else ""
        if code != 0 or got != want:
            said = f"it says {got!r}" if code == 0 else f"it does not run ({_tail(output) or 'exit ' + str(code)})"
            raise DeployError(f"host {host.name}: {host.executable(program)} is stale or missing: {said}; "
                              f"this build is {want!r} (run: python3 -m harness deploy)")


def deploy_host(hosts, host, check_only, say):
    programs = programs_for(host)
    check_reachable(hosts, host)
    if not check_only:
        make_folder(hosts, host)
        copy_files(hosts, host, list(programs.values()))
    check_versions(hosts, host, programs)
    builds = "+".join(sorted({host.build_of(program) for program in programs}))
    say(f"{host.name}: {len(programs)} executables {'match' if check_only else 'copied to ' + host.dir + ', all'} "
        f"this build ({builds})")


def deploy_variant(hosts, host, variant, servers, say):
    """Copies another build of some servers (an ab run's base) to a folder of
    its own on the host, and checks their --version against that build when it
    has one (an old revision may predate --version). Returns the host as a
    run must address it for that build."""
    from harness import platforms
    target = host.subfolder(variant.name)
    files = [platforms.current().server_executable(server, variant.winsock_dir, variant.native_dir)
             for server in servers]
    missing = [f"{server} ({path or 'no native build here'})" for server, path in zip(servers, files)
               if path is None or not path.is_file()]
    if missing:
        raise DeployError(f"the {variant.name} build lacks {', '.join(missing)}")
    check_reachable(hosts, host)
    make_folder(hosts, target)
    copy_files(hosts, target, files)
    builds = {build: Path(folder).parent for build, folder in (("mingw", variant.winsock_dir),
                                                                ("native", variant.native_dir)) if folder}
    needed = {target.build_of(server) for server in servers}
    if all(build in builds and (builds[build] / "generated" / "wsb_version.h").is_file() for build in needed):
        check_versions(hosts, target, servers, builds=builds)
    say(f"{host.name}: the {variant.name} build of {', '.join(servers)} copied to {target.dir}")
    return target


def main(hosts, names=None, check_only=False, stream=None):
    """Deploys to (or with check_only, checks) the named hosts, all by default.
    Exit code 0, or 2 after the first host that fails (named in one line)."""
    stream = stream or sys.stderr

    def say(text):
        stream.write(text + "\n")
        stream.flush()

    try:
        targets = [hosts.host(name) for name in names] if names else list(hosts.hosts.values())
        for host in targets:
            deploy_host(hosts, host, check_only, say)
    except (DeployError, HostsError) as error:
        say(f"deploy: {error}")
        return 2
    return 0
