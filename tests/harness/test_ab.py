"""`ab` end to end: builds the reference server at HEAD in a temporary
worktree, runs it against the current build interleaved, compares, and
removes the worktree. Only the native server, so the base build takes
seconds; the Winsock side of the build is the same cmake code path."""
import io
import json
import re
import subprocess
import sys
from pathlib import Path

from harness import ab, compare

ROOT = Path(__file__).resolve().parents[2]

TINY_SUITE = """\
description = "ab test: one short point"
reps = 2
servers = ["reference-epoll"]

[defaults]
duration = 0.3
warmup = 0.1
size = 64

[[point]]
id = "pingpong-c2"
workload = "pingpong"
connections = 2
"""


def git_worktrees():
    done = subprocess.run(["git", "worktree", "list", "--porcelain"], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    return [line.split(" ", 1)[1] for line in done.stdout.splitlines() if line.startswith("worktree ")]


def scale_records(run_dir, variant, throughput_factor, p99_factor):
    """Makes one variant's recorded figures slower by the given factors (messages/s
    and the load generator's own p99)."""
    for path in (run_dir / "points").glob(f"*/*.{variant}.r*.json"):
        record = json.loads(path.read_text())
        loadgen = record["loadgen"]
        loadgen["messages_per_s"] *= throughput_factor
        loadgen["latency_us"]["p99"] *= p99_factor
        path.write_text(json.dumps(record))


def test_ab_builds_base_runs_both_interleaved_and_cleans_up(tmp_path):
    suite = tmp_path / "tiny.toml"
    suite.write_text(TINY_SUITE)
    out = tmp_path / "ab-run"
    before = git_worktrees()
    # Identical code on both sides: a 90% threshold can only be crossed by a
    # broken comparison, never by noise, so exit 0 is the right answer. The
    # suite asks for 2 repetitions: too few for any interval, so ab runs its
    # minimum (6) instead.
    done = subprocess.run([sys.executable, "-m", "harness", "ab", "--base", "HEAD", "--suite", str(suite),
                           "--servers", "reference-epoll", "--threshold", "90", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]

    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["variants"]) == {"base", "current"}
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert manifest["variants"]["base"]["commit"] == head
    # Both builds, six repetitions each, each record ok and from its own binary folder.
    records = sorted((out / "points" / "pingpong-c2").glob("*.json"))
    assert [r.name for r in records] == [f"reference-epoll.{variant}.r{rep}.json"
                                         for variant in ("base", "current") for rep in range(ab.MIN_REPS)]
    assert ab.MIN_REPS == 6
    for path in records:
        record = json.loads(path.read_text())
        assert record["status"] == "ok" and record["loadgen"]["totals"]["messages"] > 0
    # Interleaved: each repetition round runs both variants before the next round.
    rounds = [(item["rep"], item["variant"]) for item in manifest["plan"]]
    assert all(sorted(rounds[2 * rep:2 * rep + 2]) == [(rep, "base"), (rep, "current")] for rep in range(6))
    # The comparison table was printed with an interval on each line, and the temporary worktree is gone.
    table = [line for line in done.stdout.splitlines() if line.startswith("pingpong-c2")]
    assert len(table) == 2 and all(re.search(r"\[\d+\.\d+, \d+\.\d+\]", line) for line in table), done.stdout
    base = manifest["variants"]["base"]
    assert "tree" in Path(base["native_dir"]).parts  # it ran the worktree's build...
    assert not Path(base["native_dir"]).exists() and not Path(base["servers_dir"]).exists()  # ...now removed
    assert git_worktrees() == before

    # With as many repetitions as ab runs, a slowdown in "current" is flagged
    # (10x: far beyond what noise between repetitions on a shared machine does).
    scale_records(out, "current", 0.1, 10)
    output = io.StringIO()
    assert compare.main_variants(out, 5.0, out=output, err=io.StringIO()) == 1
    flagged = [line.split()[2] for line in output.getvalue().splitlines() if line.endswith("REGRESSION")]
    assert flagged == ["throughput", "p99"], output.getvalue()
