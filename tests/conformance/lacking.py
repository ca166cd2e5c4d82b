"""Which models this platform lacks what they need for (harness.models.LACKING,
by how this platform runs each model), and the one place the tests turn a
server's "unsupported" (exit code 3) into a skip: only for those. Any other
model that says it is unsupported has regressed, and its test fails."""
import socket

import pytest

from harness import models, platforms


def lacking_here(model, system=None):
    """The line a model's server must say here when it cannot run ("rio:
    Registered I/O ..." under Wine), or None when this platform has all it needs."""
    system = system or platforms.current()
    return models.lacking(model, system.runtime_of(model))


def skip_if_lacking(model, reason):
    """Called with a server's "unsupported" line: skips the test when this
    platform lacks what the model needs, fails it otherwise."""
    expected = lacking_here(model)
    if expected is None:
        pytest.fail(f"{model} exited as unsupported on this platform ({reason!r}), but nothing it needs is "
                    "missing here (harness.models.LACKING): the model has regressed", pytrace=False)
    pytest.skip(f"unsupported on this platform: {reason}")


def ipv6_loopback_available():
    """Whether this machine has an IPv6 loopback (::1) to bind to: what the
    IPv6 tests need from it, asked apart from the server under test, so a
    server that fails on ::1 fails its test instead of skipping it."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False
