import time

import pytest

from harness import platforms
from harness.platforms.wine import describe_wineserver
from harness.servers import EchoServer, ServerUnsupported, selected_models, selected_variants, variant_id
from lacking import skip_if_lacking

SESSION_STARTED = time.monotonic()


def pytest_generate_tests(metafunc):
    """A test that runs a server runs against each variant of each model (its
    option variants too); one that only runs the executable, against each
    model."""
    if "start_server" in metafunc.fixturenames:
        variants = selected_variants()
        metafunc.parametrize(("model", "variant_args"), variants, ids=[variant_id(*v) for v in variants])
    elif "model" in metafunc.fixturenames:
        metafunc.parametrize("model", selected_models())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test of a server run under Wine says what its wineserver was
    at that moment: a server that Wine ended (exit code 1 before its ready
    line, SIGKILL after its stats line) is told apart from one that failed."""
    report = (yield).get_result()
    model = getattr(item, "callspec", None) and item.callspec.params.get("model")
    if report.failed and model and platforms.current().runs_under_wine(model):
        report.sections.append(("wineserver", f"{describe_wineserver()}; this test session began "
                                              f"{time.monotonic() - SESSION_STARTED:.0f} s ago"))


class ServerUnderTest(EchoServer):
    """A server that, unless a test says otherwise, must end its test clean:
    stopped by closing stdin, exit code 0, every byte received sent back,
    and no error of any kind counted."""

    allowed_errors = ()
    echo_cut_by_stop = False

    def allow_errors(self, *kinds):
        self.allowed_errors = kinds

    def allow_echo_cut_by_stop(self):
        """Stopped mid-stream: bytes received after the last echo are dropped."""
        self.echo_cut_by_stop = True


def check_clean(server):
    stats = server.stop()
    assert stats["model"] == server.model
    assert stats["peak_threads"] >= 1 and stats["run_time_s"] > 0
    assert stats["peak_working_set_bytes"] > 0
    # a server that measures its service delay names the threshold it holds it against:
    # the harness flags a slow service by that figure, not a copy of its own
    assert ("worst_service_delay_ms" in stats) == ("slow_service_ms" in stats), stats
    assert stats.get("slow_service_ms", 1) > 0, stats
    unexpected = {k: v for k, v in stats["errors"].items() if v and k not in server.allowed_errors}
    assert not unexpected, f"{server.model} counted errors {unexpected}{server.stderr_tail()}"
    if server.echo_cut_by_stop:
        assert stats["bytes_sent"] <= stats["bytes_received"], stats
    elif not server.allowed_errors:
        assert stats["bytes_received"] == stats["bytes_sent"], stats


@pytest.fixture
def start_server(model, variant_args):
    """start_server(*args) starts the model under test (with its variant's
    options) with extra options."""
    started = []

    def start(*args):
        server = ServerUnderTest(model, [*variant_args, *args])
        started.append(server)
        try:
            return server.start()
        except ServerUnsupported as unsupported:
            # A model this platform lacks what it needs for (rio under Wine):
            # test_unsupported.py checks that it says so properly, nothing
            # else can be checked. Any other model fails here.
            started.remove(server)
            server.kill()
            skip_if_lacking(model, unsupported.reason)

    yield start
    try:
        for server in started:
            if server.process is not None:
                check_clean(server)
    finally:
        for server in started:
            server.kill()


@pytest.fixture
def echo_server(start_server):
    return start_server()
