"""scripts/measure/vs_sample.py end to end, with stand-ins for Microsoft's
samples (sample_standin.py, behind wrappers named like the samples and given
the samples' command lines): our own servers for samples that work, an echo
server that corrupts bytes, one that refuses connections, one that serves
one client at a time, one that does not start. It proves the plumbing - interleaved pairs, each side's figures, the
ratio and its spread, the placement, a sample found wanting reported and not
timed, a missing sample - not any speed. Tiny runs: about 15 s under Wine."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import platforms

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "measure" / "vs_sample.py"
STANDIN = Path(__file__).resolve().parent / "sample_standin.py"
SHORT = ("--duration", "0.2", "--warmup", "0")

pytestmark = pytest.mark.skipif(platforms.current().system == "Windows",
                                reason="the stand-ins are shell wrappers")


def built(model):
    exe = platforms.current().server_executable(model)
    if not exe.is_file():
        pytest.skip(f"{model} is not built ({exe}); run scripts/build.sh")
    return exe


def stand_in(folder, sample, *command):
    """An executable named like the sample (sample.exe) that runs sample_standin.py
    with `command`, then the sample's own arguments."""
    wrapper = folder / f"{sample}.exe"
    words = " ".join(f"'{word}'" for word in (sys.executable, STANDIN, *command))
    wrapper.write_text(f'#!/bin/sh\nexec {words} "$@"\n')
    wrapper.chmod(0o755)


def compare(folder, tmp_path, *options):
    output = tmp_path / "pairs.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--samples-dir", str(folder), *SHORT,
                           "--json", str(output), *options],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    return done, (json.loads(output.read_text()) if output.is_file() else None)


def pairing(document, sample):
    return next(p for p in document["pairings"] if p["sample"] == sample)


def progress(stderr):
    """The sides in the order they ran, from the progress lines."""
    return [line.rsplit(": ", 1)[1] for line in stderr.splitlines() if " pair " in line]


def test_pairs_give_each_sides_figures_a_ratio_its_spread_and_the_placement(tmp_path):
    samples = tmp_path / "samples"
    samples.mkdir()
    stand_in(samples, "iocpserver", "ours", built("iocp"))  # iocpserverex is missing
    done, document = compare(samples, tmp_path, "--models", "iocp", "--points", "pingpong-c1,pipeline-c4-d16",
                             "--pairs", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    placed = document["placement"]
    assert placed["mode"] == "colocated"
    assert placed["server_cpus"] and placed["loadgen_cpus"]
    assert not set(placed["server_cpus"]) & set(placed["loadgen_cpus"])
    works = pairing(document, "iocpserver")
    assert works["missing"] is None and works["args"] == "-e:{port}"
    assert [c["point"]["id"] for c in works["comparisons"]] == ["pingpong-c1", "pipeline-c4-d16"]
    for comparison in works["comparisons"]:
        assert comparison["verification"] == "verified" and comparison["failures"] == []
        for side in ("ours", "sample"):
            runs = comparison[side]["runs"]
            assert [run["pair"] for run in runs] == [1, 2]
            assert all(run["verdict"] == "ok" and run["throughput"] > 0 and run["p99_us"] > 0 for run in runs)
            assert all(run["placement"]["held"] and run["placement"]["server_cpus"] == placed["server_cpus"]
                       and run["placement"]["loadgen_cpus"] == placed["loadgen_cpus"] for run in runs)
        ours, sample = ([run["throughput"] for run in comparison[side]["runs"]] for side in ("ours", "sample"))
        assert comparison["ratios"] == [a / b for a, b in zip(ours, sample)]
        assert comparison["ratio_min"] <= comparison["ratio_median"] <= comparison["ratio_max"]
    missing = pairing(document, "iocpserverex")
    assert missing["missing"] == f"no iocpserverex.exe in {samples.resolve()}" and missing["comparisons"] == []
    assert "iocp vs iocpserverex: no iocpserverex.exe in" in done.stderr
    # Interleaved, pair after pair, at each point in turn; the side that goes
    # first alternates, so that what one run leaves behind hits both alike.
    assert progress(done.stderr) == ["ours", "sample", "sample", "ours"] * 2
    lines = done.stdout.splitlines()
    assert "placement colocated" in lines[0]
    assert lines[1].startswith("iocp vs iocpserver -e:{port}  (")
    rows = [line for line in lines if line.startswith(("  pingpong", "  pipeline"))]
    assert [row.split()[0] for row in rows] == ["pingpong-c1", "pipeline-c4-d16"]
    assert all(row.endswith("verified") and "x (2)" in row for row in rows)
    assert lines[-1].startswith("iocp vs iocpserverex -e:{port}: missing (no iocpserverex.exe in")


def load_script():
    from importlib import util
    spec = util.spec_from_file_location("vs_sample", SCRIPT)
    script = util.module_from_spec(spec)
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        spec.loader.exec_module(script)
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return script


def test_pairs_taken_on_a_busy_machine_are_set_aside_once_enough_quiet_ones_remain():
    script = load_script()
    point = script.POINTS[0]

    def comparison(busy_pairs, pairs=5):
        found = script.Comparison(point)
        for pair in range(1, pairs + 1):
            other = 0.6 if pair in busy_pairs else 0.05
            # a busy run is slow: half the throughput, twice the p99
            slow = 0.5 if pair in busy_pairs else 1.0
            found.ours.append(script.Run(pair, "ok", 1000.0 * slow, 100.0 / slow, other_cpu_cores=other))
            found.sample.append(script.Run(pair, "ok", 1000.0, 100.0, other_cpu_cores=0.0))
        return found

    one_busy = comparison({2}).to_json()
    assert one_busy["ratios"] == [1.0] * 4 and one_busy["measured_pairs"] == [1, 3, 4, 5]
    assert one_busy["busy_pairs"] == 1 and one_busy["ours"]["p99_us_median"] == 100.0
    assert one_busy["ours"]["runs"][1]["busy"] and not one_busy["ours"]["runs"][0]["busy"]
    assert comparison({2}).busy_text() == "1 of 5 pairs taken on a busy machine set aside"
    # two quiet pairs give no spread worth the name: every pair counts, and the row says so
    mostly_busy = comparison({1, 2, 3})
    assert sorted(mostly_busy.ratios()) == [0.5, 0.5, 0.5, 1.0, 1.0]
    assert mostly_busy.busy_text() == "3 of 5 pairs taken on a busy machine, kept: fewer than 3 were quiet"
    assert comparison(set()).busy_text() is None
    assert "      1 of 5 pairs taken on a busy machine set aside" in script.comparison_lines(comparison({4}))


def test_a_sample_that_corrupts_or_refuses_is_reported_with_its_first_error_not_timed(tmp_path):
    built("overlapped-events")
    built("thread")
    samples = tmp_path / "samples"
    samples.mkdir()
    stand_in(samples, "overlap", "corrupt")
    stand_in(samples, "simples", "refuse")
    done, document = compare(samples, tmp_path, "--models", "overlapped-events,thread",
                             "--points", "pingpong-c1,pingpong-c16", "--pairs", "3")
    # A sample found wanting is a result, not a failure of the measurement.
    assert done.returncode == 0, done.stderr[-3000:]
    expected = {"overlap": ("corrupts", "fails byte verification", "mismatch"),
                "simples": ("refuses", "refuses connections", "connection refused")}
    for sample, (verdict, said, error) in expected.items():
        for comparison in pairing(document, sample)["comparisons"]:
            assert comparison["verification"] == f"sample {said}"
            wanting = comparison["found_wanting"]
            assert wanting["side"] == "sample" and wanting["verdict"] == verdict and error in wanting["error"]
            # Not timed, and its point ends there: one pair of the three.
            (run,) = comparison["sample"]["runs"]
            assert run["throughput"] is None and comparison["sample"]["throughput_median"] is None
            assert comparison["ratios"] == [] and comparison["ratio_median"] is None
            assert [run["verdict"] for run in comparison["ours"]["runs"]] == ["ok"]
    assert progress(done.stderr) == ["ours", "sample"] * 4
    assert done.stdout.count("sample fails byte verification") == 2
    assert done.stdout.count("sample refuses connections") == 2
    assert done.stdout.count("first error (sample, pair 1): loadgen") == 4


def test_a_sample_that_serves_one_client_at_a_time_is_reported_with_its_count_not_timed(tmp_path):
    """It answers 1 connection well (timed) but only 1 of 16: that run counts
    no error, yet its figures are not a slow server's, so it is not timed."""
    built("thread")
    samples = tmp_path / "samples"
    samples.mkdir()
    stand_in(samples, "simples", "serial")
    done, document = compare(samples, tmp_path, "--models", "thread", "--points", "pingpong-c1,pingpong-c16",
                             "--pairs", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    one, sixteen = pairing(document, "simples")["comparisons"]
    assert one["verification"] == "verified" and len(one["ratios"]) == 2
    assert all(run["per_connection"]["served"] == 1 for side in ("ours", "sample") for run in one[side]["runs"])
    assert sixteen["verification"] == "sample serves only 1 of 16 connections"
    wanting = sixteen["found_wanting"]
    assert wanting["side"] == "sample" and wanting["verdict"] == "starves"
    assert wanting["error"] == "15 of 16 connections got no echo in the measured window"
    assert wanting["per_connection"]["connections"] == 16 and wanting["per_connection"]["served"] == 1
    (run,) = sixteen["sample"]["runs"]
    assert run["throughput"] is None and sixteen["sample"]["throughput_median"] is None
    assert sixteen["ratios"] == [] and sixteen["ratio_median"] is None
    (ours,) = sixteen["ours"]["runs"]
    assert ours["verdict"] == "ok" and ours["per_connection"]["served"] == 16
    assert progress(done.stderr) == ["ours", "sample", "sample", "ours", "ours", "sample"]
    row = next(line for line in done.stdout.splitlines() if line.startswith("  pingpong-c16"))
    assert row.endswith("sample serves only 1 of 16 connections")
    assert ("first error (sample, pair 1): 15 of 16 connections got no echo in the measured window"
            in done.stdout)


def test_a_sample_that_does_not_start_fails_its_pairs_in_one_line_each(tmp_path):
    samples = tmp_path / "samples"
    samples.mkdir()
    built("iocp")
    (samples / "iocpserver.exe").write_text("#!/bin/sh\necho 'Unknown options flag' >&2\nexit 2\n")
    (samples / "iocpserver.exe").chmod(0o755)
    done, document = compare(samples, tmp_path, "--models", "iocp", "--points", "pingpong-c1", "--pairs", "2")
    assert done.returncode == 1
    (comparison,) = pairing(document, "iocpserver")["comparisons"]
    assert comparison["ratios"] == [] and comparison["found_wanting"] is None
    # A failed start is no verdict on the sample: the next pair is tried.
    assert len(comparison["failures"]) == 2
    for pair, failure in enumerate(comparison["failures"], 1):
        assert failure.startswith(f"pair {pair}: sample: iocpserver: exited (code 2) before it accepted a connection")
        assert "Unknown options flag" in failure
    assert "failed: pair 1: sample: iocpserver: exited (code 2)" in done.stdout


def test_a_folder_without_any_of_the_samples_is_one_line_and_no_run(tmp_path):
    samples = tmp_path / "samples"
    samples.mkdir()
    stand_in(samples, "overlap", "corrupt")  # there, but not asked for
    done, document = compare(samples, tmp_path, "--models", "iocp,thread")
    assert done.returncode == 1 and document is None
    assert done.stderr.strip() == (f"error: none of the samples (iocpserver.exe, iocpserverex.exe, simples.exe) is in "
                                   f"{samples.resolve()}: give the folder build-ms-samples.sh SAMPLES OUT wrote (OUT)")
