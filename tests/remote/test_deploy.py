"""`python3 -m harness deploy` against real SSH hosts (network namespaces with
sshd, see testnet.py): a linux host gets the native build, a wine host the
Windows build; stale copies, unreachable hosts and a wrong key are refused
with one line naming the host, exit 2, within the connect timeout."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import testnet

ROOT = Path(__file__).resolve().parents[2]
WINE_RUN = ROOT / "scripts" / "wine-run"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="test hosts need root (ip netns)")


@pytest.fixture(scope="module")
def net():
    for needed in (ROOT / "build" / "native" / "loadgen" / "loadgen", ROOT / "build" / "mingw" / "loadgen" / "loadgen.exe"):
        if not needed.exists():
            pytest.fail(f"build first: scripts/build.sh ({needed} is missing)")
    with testnet.TestNet(hosts=2) as made:
        yield made


def hosts_file(net, folder, connect_timeout=5, ssh_config=None, extra=""):
    linux, wine = net.hosts
    text = f"""
ssh_config = "{ssh_config or net.ssh_config}"
connect_timeout = {connect_timeout}

[hosts.linux]
ssh = "{linux.name}"
platform = "linux"
dir = "{folder}/linux"
address = "{linux.address}"

[hosts.wine]
ssh = "{wine.name}"
platform = "wine"
dir = "{folder}/wine"
address = "{wine.address}"
wine = "{WINE_RUN}"
{extra}"""
    path = folder / "hosts.toml"
    path.write_text(text)
    return path


def harness(*args, timeout=300):
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    return done, time.monotonic() - began


def test_deploy_copies_each_build_where_it_belongs_and_checks_every_copy(net, tmp_path):
    done, _ = harness("deploy", "--hosts", str(hosts_file(net, tmp_path)))
    assert done.returncode == 0, done.stderr
    linux_copies = sorted(p.name for p in (tmp_path / "linux").iterdir())
    assert linux_copies == ["loadgen", "reference-epoll"]
    wine_copies = sorted(p.name for p in (tmp_path / "wine").iterdir())
    # The Winsock servers as Windows programs; reference-epoll and loadgen native, not through Wine.
    assert "iocp.exe" in wine_copies and "select.exe" in wine_copies
    assert "loadgen" in wine_copies and "reference-epoll" in wine_copies and "loadgen.exe" not in wine_copies
    assert "linux: 2 executables copied" in done.stderr and "wine:" in done.stderr
    check, _ = harness("deploy", "--hosts", str(hosts_file(net, tmp_path)), "--check")
    assert check.returncode == 0, check.stderr


def test_a_stale_copy_is_refused_naming_the_host_and_the_file(net, tmp_path):
    path = hosts_file(net, tmp_path)
    done, _ = harness("deploy", "--hosts", str(path), "--only", "linux")
    assert done.returncode == 0, done.stderr
    stale = tmp_path / "linux" / "loadgen"
    stale.write_text("#!/bin/sh\necho loadgen winsock-bench 0.0.1 0123456789ab\n")
    check, _ = harness("deploy", "--hosts", str(path), "--only", "linux", "--check")
    assert check.returncode == 2
    line = check.stderr.strip().splitlines()[-1]
    assert line.startswith("deploy: host linux: ") and str(stale) in line and "stale" in line
    assert "0.0.1" in line


def test_an_unreachable_host_is_refused_within_the_connect_timeout(net, tmp_path):
    # An address in the test network where no host answers: nothing leaves this machine.
    nobody = f"198.18.{net.subnet}.99"
    extra = f'\n[hosts.ghost]\nssh = "root@{nobody}"\nplatform = "linux"\ndir = "/tmp/nowhere"\n'
    path = hosts_file(net, tmp_path, connect_timeout=2, extra=extra)
    done, took = harness("deploy", "--hosts", str(path), "--only", "ghost")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("deploy: host ghost (root@") and "unreachable" in lines[0]
    assert took < 2 + 15  # the connect timeout, plus Python's start and ssh's own


def test_a_wrong_key_is_refused_naming_the_host(net, tmp_path):
    wrong_key = tmp_path / "wrong_key"
    testnet.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong_key)])
    config = tmp_path / "wrong_ssh_config"
    config.write_text(net.ssh_config.read_text().replace(str(net.client_key), str(wrong_key)))
    done, _ = harness("deploy", "--hosts", str(hosts_file(net, tmp_path, ssh_config=config)), "--only", "linux")
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("deploy: host linux (host0): unreachable") and "Permission denied" in line
    assert not (tmp_path / "linux").exists()
