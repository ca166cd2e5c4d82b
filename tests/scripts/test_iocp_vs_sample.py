"""scripts/measure/iocp_vs_sample.py end to end, with our own iocp.exe standing
in for Microsoft's sample (started by a command line, ready when its port
accepts, stopped by Ctrl-C, like the sample): it proves the plumbing - the
interleaved pairs, the figures of each side, the ratio and its spread, a
sample that fails - not any speed. Tiny runs: about 15 s under Wine."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import platforms

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "measure" / "iocp_vs_sample.py"
# Our iocp as the sample: a port of its own, and no stop at end of input
# (the script gives the sample none: it stops it with Ctrl-C).
STAND_IN_ARGS = "--sample-args=--port {port} --no-stdin-stop"


@pytest.fixture
def stand_in():
    exe = platforms.current().server_executable("iocp")
    if not exe.is_file():
        pytest.skip(f"iocp is not built ({exe}); run scripts/build.sh")
    return exe


def compare(stand_in, tmp_path, *options):
    output = tmp_path / "pairs.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--sample", str(stand_in), STAND_IN_ARGS,
                           "--duration", "0.2", "--warmup", "0", "--json", str(output), *options],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    return done, (json.loads(output.read_text()) if output.is_file() else None)


def test_pairs_of_both_sides_give_figures_a_ratio_and_its_spread(stand_in, tmp_path):
    done, document = compare(stand_in, tmp_path, "--connections", "1,4", "--pairs", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert [c["connections"] for c in document["comparisons"]] == [1, 4]
    for comparison in document["comparisons"]:
        assert comparison["failures"] == []
        for side in ("ours", "sample"):
            figures = comparison[side]
            assert len(figures["throughput"]) == len(figures["p99_us"]) == 2
            assert all(value > 0 for value in figures["throughput"] + figures["p99_us"])
        ratios = comparison["ratios"]
        assert ratios == [a / b for a, b in zip(comparison["ours"]["throughput"], comparison["sample"]["throughput"])]
        assert comparison["ratio_min"] <= comparison["ratio_median"] <= comparison["ratio_max"]
    # Interleaved: ours, then the sample, pair after pair, at each count in turn.
    order = [line.split(": ")[1] for line in done.stderr.splitlines() if " pair " in line]
    assert order == ["ours", "sample"] * 4
    rows = [line.split()[0] for line in done.stdout.splitlines()[2:]]
    assert rows == ["1", "4"]
    assert "x" in done.stdout.splitlines()[2]


def test_a_sample_that_does_not_start_fails_its_pairs_in_one_line_each(stand_in, tmp_path):
    done, document = compare(stand_in, tmp_path, "--connections", "1", "--pairs", "1",
                             "--sample-args=--port {port} --no-such-option")
    assert done.returncode == 1
    (comparison,) = document["comparisons"]
    assert comparison["ratios"] == [] and comparison["ours"]["throughput"] == []
    (failure,) = comparison["failures"]
    assert failure.startswith("pair 1: sample: the sample exited (code 2) before it accepted a connection")
    assert "no complete pair" in done.stdout and "failed: pair 1: sample:" in done.stdout
