"""`ab` end to end: builds the reference server at HEAD in a temporary
worktree, runs it against the current build interleaved, compares, and
removes the worktree. Only the native server, so the base build takes
seconds; the Winsock side of the build is the same cmake code path."""
import json
import subprocess
import sys
from pathlib import Path

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


def test_ab_builds_base_runs_both_interleaved_and_cleans_up(tmp_path):
    suite = tmp_path / "tiny.toml"
    suite.write_text(TINY_SUITE)
    out = tmp_path / "ab-run"
    before = git_worktrees()
    # Identical code on both sides: a 90% threshold can only be crossed by a
    # broken comparison, never by noise, so exit 0 is the right answer.
    done = subprocess.run([sys.executable, "-m", "harness", "ab", "--base", "HEAD", "--suite", str(suite),
                           "--servers", "reference-epoll", "--reps", "2", "--threshold", "90", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]

    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["variants"]) == {"base", "current"}
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert manifest["variants"]["base"]["commit"] == head
    # Both builds, both repetitions, each record ok and from its own binary folder.
    records = sorted((out / "points" / "pingpong-c2").glob("*.json"))
    assert [r.name for r in records] == ["reference-epoll.base.r0.json", "reference-epoll.base.r1.json",
                                         "reference-epoll.current.r0.json", "reference-epoll.current.r1.json"]
    for path in records:
        record = json.loads(path.read_text())
        assert record["status"] == "ok" and record["loadgen"]["totals"]["messages"] > 0
    # Interleaved: each repetition round runs both variants before the next round.
    rounds = [(item["rep"], item["variant"]) for item in manifest["plan"]]
    assert sorted(rounds[:2]) == [(0, "base"), (0, "current")] and sorted(rounds[2:]) == [(1, "base"), (1, "current")]
    # The comparison table was printed, and the temporary worktree is gone.
    assert "pingpong-c2" in done.stdout
    base = manifest["variants"]["base"]
    assert "tree" in Path(base["native_dir"]).parts  # it ran the worktree's build...
    assert not Path(base["native_dir"]).exists() and not Path(base["servers_dir"]).exists()  # ...now removed
    assert git_worktrees() == before
