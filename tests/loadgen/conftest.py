"""Fixtures shared by the loadgen tests (native and Windows builds)."""
import pytest

from harness.servers import EchoServer, server_command


@pytest.fixture
def reference():
    """The reference server. It must end the test clean: loadgen ends a run
    by half-closing, so the server counts no reset and echoed every byte."""
    server = EchoServer("reference-epoll")
    try:
        server_command("reference-epoll")
    except FileNotFoundError as missing:
        pytest.fail(str(missing))
    server.start()
    yield server
    try:
        stats = server.stop()
        assert stats["bytes_received"] == stats["bytes_sent"], stats
        assert not any(stats["errors"].values()), stats
    finally:
        server.kill()
