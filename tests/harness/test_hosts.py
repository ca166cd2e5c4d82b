"""harness/hosts.py: reading hosts files, and the commands built from them."""
import shlex

import pytest

from harness.hosts import HostsError, parse_hosts

GOOD = """
ssh_config = "/tmp/wsb-ssh-config"
connect_timeout = 4

[hosts.winbox]
ssh = "bench@winbox.lab"
platform = "windows"
dir = 'C:\\winsock bench'
address = "192.0.2.10"

[hosts.linuxbox]
ssh = "ssh://me@[2001:db8::5]:2222"
platform = "linux"
dir = "/opt/wsb"

[hosts.winehost]
ssh = "wine-alias"
platform = "wine"
dir = "/srv/wsb"
wine = "/opt/wsb/scripts/wine-run"

[run]
server = "winbox"
clients = ["linuxbox", "winehost"]
"""


def test_a_good_file_is_read_whole():
    hosts = parse_hosts(GOOD, "h.toml")
    assert sorted(hosts.hosts) == ["linuxbox", "winbox", "winehost"]
    assert hosts.server == "winbox" and hosts.clients == ["linuxbox", "winehost"]
    assert hosts.hosts["winbox"].address == "192.0.2.10"
    assert hosts.hosts["linuxbox"].address == "2001:db8::5"  # the host part of the destination
    assert hosts.hosts["winehost"].address == "wine-alias"
    assert hosts.ssh_options() == ["-F", "/tmp/wsb-ssh-config", "-o", "BatchMode=yes", "-o", "ConnectTimeout=4"]


def test_commands_are_quoted_for_each_hosts_shell():
    hosts = parse_hosts(GOOD)
    windows = hosts.hosts["winbox"]
    assert windows.executable("iocp") == "C:\\winsock bench\\iocp.exe"
    assert windows.command_line("iocp", "--port", "0") == '"C:\\winsock bench\\iocp.exe" --port 0'
    wine = hosts.hosts["winehost"]
    assert shlex.split(wine.command_line("select", "--bind", "a b")) == \
        ["/opt/wsb/scripts/wine-run", "/srv/wsb/select.exe", "--bind", "a b"]
    linux = hosts.hosts["linuxbox"]
    assert shlex.split(linux.command_line("loadgen", "--host", "x; rm -rf /")) == \
        ["/opt/wsb/loadgen", "--host", "x; rm -rf /"]
    assert hosts.ssh_argv(linux, "true")[-2:] == ["ssh://me@[2001:db8::5]:2222", "true"]


@pytest.mark.parametrize("text, message", [
    ("", "no [hosts.NAME] tables"),
    ("[hosts.a]\nssh = 'a'\nplatform = 'linux'\n", "host 'a': dir is missing"),
    ("[hosts.a]\nssh = 'a'\nplatform = 'macos'\ndir = '/x'\n", "host 'a': platform must be one of windows, wine, linux"),
    ("[hosts.a]\nssh = ''\nplatform = 'linux'\ndir = '/x'\n", "host 'a': ssh must be a non-empty string"),
    ("[hosts.a]\nssh = 'a'\nplatform = 'linux'\ndir = '/x'\nport = 22\n", "host 'a': unknown key(s) port"),
    ("[hosts.a]\nssh = 'a'\nplatform = 'linux'\ndir = '/x'\nwine = 'wine'\n", "wine is only for platform"),
    ("connect_timeout = 0\n[hosts.a]\nssh = 'a'\nplatform = 'linux'\ndir = '/x'\n", "connect_timeout must be"),
    ("[hosts.a]\nssh = 'a'\nplatform = 'linux'\ndir = '/x'\n[run]\nserver = 'b'\n", "no host named 'b'"),
    ("[hosts.a]\nssh = 'a'\nplatform = 'linux'\ndir = '/x'\n[run]\nclients = 'a'\n", "clients must be a list"),
    ("servers = 1\n[hosts.a]\nssh = 'a'\nplatform = 'linux'\ndir = '/x'\n", "unknown key(s) servers"),
    ("[hosts.a\n", "not valid TOML"),
])
def test_each_mistake_is_one_line_naming_the_file_and_the_host(text, message):
    with pytest.raises(HostsError) as raised:
        parse_hosts(text, "my-hosts.toml")
    assert str(raised.value).startswith("my-hosts.toml: ")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
