"""The harness against its own faults: killed outright mid-run, a record
file truncated, a disk that fills up while a record is written, a server
that floods its output. Stand-in servers and load generator
(fake_servers/) keep each case small and exact."""
import io
import json
import os
import subprocess
import sys
import time

import pytest

import test_runner
from test_runner import FAKE_LOADGEN, FAKES, ROOT, FakeServers, fake_suite, harness, records, run_fake

from harness import run as runner
from harness import store
from harness.run import orphans
from harness.servers import STDERR_KEPT
import synthetic

ONE_POINT = '[[point]]\nid = "pp"\nworkload = "pingpong"\nconnections = 1\n'

# Runs a suite of three repetitions on the fake echo server in a process of
# its own, so that the test can kill it.
DRIVER = """
import sys
sys.path[:0] = [{root!r}, {tests!r}]
from test_runner import FAKES, FakeServers, fake_suite
from harness import run as runner
suite = fake_suite(["echo"], {point!r}, reps=3)
runner.new_run(suite, suite.servers, out={out!r}, registry=FakeServers(),
               variants=[runner.Variant("current", FAKES, FAKES, "0" * 40, False)])
"""
RESUME_DRIVER = """
import sys
sys.path[:0] = [{root!r}, {tests!r}]
from test_runner import FakeServers
from harness import run as runner
sys.exit(runner.resume_run({out!r}, registry=FakeServers())[0])
"""


def driver(template, out):
    return template.format(root=str(ROOT), tests=str(FAKES.parent), point=ONE_POINT, out=str(out))


def alive(pid):
    """Running, and not a zombie waiting for its parent."""
    stat = orphans.procfs.read_text(f"/proc/{pid}/stat")
    return bool(stat) and stat[stat.rindex(")") + 2] != "Z"


def wait_for(condition, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {timeout_s} s"
        time.sleep(0.1)


def marked_by(pid):
    """[(pid, command line)] of the processes carrying harness `pid`'s mark."""
    found = []
    for entry in orphans.procfs.PROC.iterdir():
        if entry.name.isdigit() and (orphans.mark_of(entry.name) or "").startswith(f"{pid}:"):
            found.append((int(entry.name), orphans.command_line(entry.name)))
    return found


def test_kill_9_mid_run_then_resume_keeps_every_record_and_kills_the_orphans(tmp_path, monkeypatch):
    out = tmp_path / "run"
    state = tmp_path / "loadgen-runs"
    env = {**os.environ, "WSB_LOADGEN": str(FAKE_LOADGEN),
           "WSB_FAKE_LOADGEN": json.dumps({"state": str(state), "hang_from": 1})}
    harness_process = subprocess.Popen([sys.executable, "-c", driver(DRIVER, out)], env=env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
    try:
        # The first repetition is recorded; the second hangs in its load generator.
        hung = tmp_path / "loadgen-runs.hung"
        wait_for(lambda: len(records(out)) == 1 and hung.is_file() if (out / "points").is_dir() else False, 30,
                 "first record and hung loadgen")
    except AssertionError:
        harness_process.kill()
        raise
    first = next((out / "points" / "pp").glob("*.json")).read_bytes()
    harness_process.kill()
    harness_process.wait()
    left = orphans.find_orphans()
    left_pids = [pid for pid, _ in left]
    # The hung load generator is left for certain; the server stops by itself at the end of its stdin (the
    # dead harness's pipe), so it is left only if that end has not reached it yet: either way, nothing of the
    # killed run may be running once the resume is done (below).
    assert any("loadgen" in c for _, c in left), left

    monkeypatch.setenv("WSB_LOADGEN", str(FAKE_LOADGEN))
    monkeypatch.setenv("WSB_FAKE_LOADGEN", json.dumps({}))
    stream = io.StringIO()
    code, _ = runner.resume_run(out, registry=FakeServers(), stream=stream)
    log = stream.getvalue()
    assert code == 0, log
    # The server may have stopped by itself when its stdin (the dead harness's pipe) closed.
    assert "left by an earlier run that was killed" in log and "loadgen.py" in log, log
    wait_for(lambda: not any(alive(pid) for pid in left_pids), 10, "end of the orphans")
    wait_for(lambda: not marked_by(harness_process.pid), 10, "no process of the killed run")
    found = records(out)
    assert sorted(r["rep"] for r in found.values()) == [0, 1, 2]
    assert all(r["status"] == "ok" for r in found.values())
    assert next((out / "points" / "pp").glob("*r0.json")).read_bytes() == first
    # A second resume finds nothing left over, and says so.
    stream = io.StringIO()
    runner.resume_run(out, registry=FakeServers(), stream=stream)
    assert "no processes left by an earlier run" in stream.getvalue()


def test_a_live_harness_is_no_orphan_maker(tmp_path):
    """The mark of a running process is never an orphan's."""
    with orphans.marking_children():
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        wait_for(lambda: orphans.mark_of(child.pid) is not None, 10, "exec of the child")  # environ is read at exec
        assert orphans.mark_of(child.pid) == orphans.own_mark()
        assert child.pid not in [pid for pid, _ in orphans.find_orphans()]
    finally:
        child.kill()
        child.wait()


def truncated_run(tmp_path):
    run_dir = synthetic.write_run(tmp_path / "run", {("pingpong-c1", "iocp"): [[100.0] * 10],
                                                     ("pingpong-c1", "select"): [[90.0] * 10]})
    record = run_dir / "points" / "pingpong-c1" / "select.current.r0.json"
    text = record.read_text()
    record.write_text(text[:len(text) // 2])
    return run_dir


def test_a_truncated_record_is_named_by_report_and_skipped_by_compare_and_agree(tmp_path):
    run_dir = truncated_run(tmp_path)
    other = synthetic.write_run(tmp_path / "other", {("pingpong-c1", "iocp"): [[100.0] * 10],
                                                     ("pingpong-c1", "select"): [[90.0] * 10]})
    unreadable = "unreadable record pingpong-c1/select.current.r0.json"
    report = harness("report", str(run_dir))
    assert report.returncode == 0 and report.stderr == "", report.stderr
    assert unreadable in (run_dir / "report.md").read_text()
    # select's only repetition is unreadable: its cell lost every result, a regression
    compared = harness("compare", str(other), str(run_dir))
    assert compared.returncode == 1 and compared.stderr == "", compared.stderr
    assert "REGRESSION: pingpong-c1 / select had results in base and none in new" in compared.stdout
    # ...which leaves one server in the run: no ranking to agree on, said in one line
    agreed = harness("agree", str(run_dir), str(other))
    assert agreed.returncode == 2 and agreed.stdout == ""
    assert agreed.stderr.startswith("agree: ") and agreed.stderr.count("\n") == 1, agreed.stderr
    cells = store.load_run(run_dir).records
    bad = [r for r in cells if not r.ok]
    assert [r.failure.split(":")[0] for r in bad] == [unreadable]


def test_records_whose_fields_have_the_wrong_shape_are_unreadable_not_a_traceback(tmp_path):
    run_dir = synthetic.write_run(tmp_path / "run", {("pingpong-c1", "iocp"): [[100.0] * 10]})
    record = run_dir / "points" / "pingpong-c1" / "iocp.current.r0.json"
    document = json.loads(record.read_text())
    for field, value in (("loadgen", "text"), ("point", [1]), ("server_stats", 3), ("rep", "x")):
        record.write_text(json.dumps({**document, field: value}))
        loaded = store.load_run(run_dir).records
        assert not loaded[0].ok and "unreadable record" in loaded[0].failure
        assert harness("report", str(run_dir)).stderr.count("Traceback") == 0


def test_resume_runs_an_unreadable_record_again(tmp_path):
    code, run_dir, log = run_fake(fake_suite(["echo"], ONE_POINT, reps=2), tmp_path / "run")
    assert code == 0, log
    damaged = next((run_dir / "points" / "pp").glob("*r1.json"))
    damaged.write_text('{"schema": "winsock-bench/point/1", "status": "o')
    stream = io.StringIO()
    code, _ = runner.resume_run(run_dir, registry=FakeServers(), stream=stream)
    assert code == 0 and "1 of 2 runs have no record" in stream.getvalue()
    assert [r["status"] for r in records(run_dir).values()] == ["ok", "ok"]


def test_a_full_disk_fails_the_record_with_the_reason_and_stops_the_run_cleanly(tmp_path):
    """RLIMIT_FSIZE makes the kernel refuse to grow a file past the limit
    (EFBIG, as ENOSPC would); the records here are far bigger than the
    manifest, so the manifest is written and the first record is not."""
    out = tmp_path / "run"
    env = {**os.environ, "WSB_LOADGEN": str(FAKE_LOADGEN),
           "WSB_FAKE_LOADGEN": json.dumps({"histogram_buckets": 20000})}
    limit = "import resource; resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))\n"
    done = subprocess.run([sys.executable, "-c", limit + driver(DRIVER, out)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    assert "stopped: cannot write" in done.stderr and "echo.current.r0.json" in done.stderr, done.stderr
    assert "run --resume" in done.stderr
    assert store.read_manifest(out)["plan"]  # the manifest is whole
    assert not [p for p in (out / "points").rglob("*") if p.is_file()]  # no half record, no temporary
    # With room again, the run finishes.
    done = subprocess.run([sys.executable, "-c", driver(RESUME_DRIVER, out)],
                          env={**env, "WSB_FAKE_LOADGEN": "{}"}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(records(out)) == 3


def test_a_server_flooding_its_output_does_not_block_the_run_and_little_is_kept(tmp_path, monkeypatch):
    monkeypatch.setitem(test_runner.FAKE_COMMANDS, "flood", [FAKES / "echo.py", "--flood-mb", "20"])
    monkeypatch.setattr(FakeServers, "names", FakeServers.names + ["flood"])
    monkeypatch.setenv("WSB_LOADGEN", str(FAKE_LOADGEN))
    monkeypatch.setenv("WSB_FAKE_LOADGEN", "{}")
    code, run_dir, log = run_fake(fake_suite(["flood"], ONE_POINT), tmp_path / "run")
    assert code == 0, log
    (record,) = records(run_dir).values()
    assert record["status"] == "ok" and record["server_stats"]["model"] == "fake-echo"
    assert 0 < len(record["server_stderr"]) <= STDERR_KEPT


def test_the_stdout_reader_keeps_only_the_contract_lines(tmp_path):
    from harness.servers import EchoServer
    server = EchoServer("flood", command=[sys.executable, str(FAKES / "echo.py"), "--flood-mb", "5"])
    server.start()
    try:
        wait_for(lambda: server.dropped_lines >= 5 * 1024, 60, "the whole flood")
        assert server._lines.qsize() == 0  # the ready line was taken; nothing else is kept
        assert server.stop()["event"] == "stats"
    finally:
        server.close()


def stop_failure(fake_option):
    """The fake echo server started with fake_option, stopped: the stop's
    failure, and the server (closed)."""
    from harness.servers import EchoServer, ServerError
    server = EchoServer("fake-echo", command=[sys.executable, str(FAKES / "echo.py"), fake_option])
    server.start()
    try:
        with pytest.raises(ServerError) as failure:
            server.stop()
    finally:
        server.close()
    return failure.value.reason, server


def test_a_server_killed_after_its_stats_line_is_named_with_the_signal_and_keeps_its_stats():
    """A kill nobody in the harness sent (under Wine: the wineserver's, for a
    process slow to exit) is reported as a signal, with when it came and what
    the harness did send; the stats line is kept for the record."""
    reason, server = stop_failure("--killed-after-stats")
    assert reason.startswith("fake-echo was ended by signal SIGKILL (9) "), reason
    assert "s after its stats line (the only stop step sent was: closing stdin)" in reason, reason
    assert server.stats["event"] == "stats" and server.stopped_by == "stdin"


def test_exit_descriptions_name_signals_and_codes():
    from harness.platforms.base import exit_description
    assert exit_description(1) == "exited with code 1"
    assert exit_description(0) == "exited with code 0"
    assert exit_description(-15) == "was ended by signal SIGTERM (15)"
    assert exit_description(-200) == "was ended by signal 200"


def test_a_crash_wine_reports_on_stderr_fails_the_stop_though_the_exit_code_is_0():
    """Under Wine a crashed program can end with exit code 0 once Wine's
    debugger has run (seen with a mingw program that writes through a null
    pointer, with 5 at other times): Wine's "wine: Unhandled ..." line on
    stderr is what tells."""
    reason, server = stop_failure("--crash-after-stats")
    assert reason.startswith("fake-echo crashed (wine: Unhandled page fault on write access to "), reason
    assert "s after its stats line" in reason and server.process.returncode == 0
