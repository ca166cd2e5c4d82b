"""--spin-us, the calibration aid every server takes (servers/core/options.c):
it makes each receive cost a known time, so that a known slowdown can be
injected without editing code (what a benchmark gate catches is measured
with it). With it on, the echo stays exact and the stats line says it was on;
without it, the stats line says nothing of it."""
import subprocess
import time

import pytest

from client import connect, echo, random_payload
from harness.servers import server_command

SPIN_US = 2000
MESSAGES = 20


def run_server_once(model, *args):
    return subprocess.run(server_command(model) + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=60, text=True)


def test_help_lists_the_calibration_option(model):
    result = run_server_once(model, "--help")
    assert result.returncode == 0 and "--spin-us N" in result.stdout and "calibration" in result.stdout


def test_the_echo_stays_exact_and_the_stats_line_reports_the_spin(start_server):
    server = start_server("--spin-us", str(SPIN_US))
    payload = random_payload(64)
    began = time.monotonic()
    with connect(server.port) as sock:
        for _ in range(MESSAGES):  # ping-pong: one receive per message at least
            assert echo(sock, payload) == payload
    took = time.monotonic() - began
    stats = server.stop()
    assert stats["spin_us"] == SPIN_US
    assert stats["bytes_received"] == stats["bytes_sent"] == MESSAGES * len(payload)
    # a lower bound only: every message waited for at least one spin
    assert took >= MESSAGES * SPIN_US / 1e6


def test_without_it_the_stats_line_says_nothing_of_it(echo_server):
    with connect(echo_server.port) as sock:
        assert echo(sock, b"x") == b"x"
    assert "spin_us" not in echo_server.stop()


@pytest.mark.parametrize("value", ["-1", "1000001", "fast"])
def test_a_bad_spin_is_refused_in_one_line(model, value):
    result = run_server_once(model, "--spin-us", value)
    assert result.returncode == 2 and "--spin-us takes a whole number from 0 to 1000000" in result.stderr
