"""A model the platform lacks what it needs for (rio under Wine 8, which has
no Registered I/O; nothing on Windows) must say so in one line and exit
with harness.servers.EXIT_UNSUPPORTED before its ready line, never crash;
the harness then records it as unsupported, not failed
(tests/harness/test_runner.py checks the recording with a stand-in). Which
models are lacking where is harness.models.LACKING: every other model runs
its conformance tests, and fails them if it reports itself unsupported."""
import subprocess

import pytest

from harness import platforms
from harness.servers import EXIT_UNSUPPORTED, EchoServer, ServerUnsupported, selected_models, server_command
from lacking import lacking_here


@pytest.fixture(params=[m for m in selected_models() if lacking_here(m)] or [None])
def lacking_model(request):
    if request.param is None:
        pytest.skip("no model this platform lacks is selected (WSB_SERVERS), or this platform lacks none")
    return request.param


def test_wine_lacks_rio_alone_and_windows_lacks_nothing():
    """The list itself, per platform: Linux runs the Winsock models under
    Wine, which lacks RIO; Windows runs them all natively."""
    linux, windows = platforms.for_system("Linux"), platforms.for_system("Windows")
    assert {m: lacking_here(m, linux) for m in linux.models() if lacking_here(m, linux)} == {
        "rio": "rio: Registered I/O (RIO) is not available on this platform"}
    assert [m for m in windows.models() if lacking_here(m, windows)] == []
    assert "rio" in windows.models()


def test_exits_3_with_one_line_before_its_ready_line(lacking_model):
    result = subprocess.run(server_command(lacking_model) + ["--port", "0"], stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=60, text=True)
    assert result.returncode == EXIT_UNSUPPORTED == 3, (result.returncode, result.stderr)
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [lacking_here(lacking_model)], result.stderr


def test_the_harness_sees_it_as_unsupported(lacking_model):
    server = EchoServer(lacking_model)
    try:
        with pytest.raises(ServerUnsupported) as raised:
            server.start()
    finally:
        server.kill()
        server.close()
    assert raised.value.reason == lacking_here(lacking_model)


def test_options_are_still_checked_first(lacking_model):
    """--help and a bad option answer as for every model: before the platform check."""
    helped = subprocess.run(server_command(lacking_model) + ["--help"], stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=60, text=True)
    assert helped.returncode == 0 and f"usage: {lacking_model}" in helped.stdout
    bad = subprocess.run(server_command(lacking_model) + ["--port", "70000"], stdin=subprocess.DEVNULL,
                         capture_output=True, timeout=60, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
