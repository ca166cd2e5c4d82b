"""scripts/commits.sh: the commit messages made after a recorded revision
keep to a subject of at most 72 characters, a blank line, and body lines of
at most 72 (a line without a space may be longer); the history before the
revision is not checked."""
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "commits.sh"


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def commit(repo, message):
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.name", "t")
    git(tmp_path, "config", "user.email", "t@example.invalid")
    return tmp_path


def check(repo, after):
    return subprocess.run([str(SCRIPT), "--repo", str(repo), "--after", after], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def test_well_formed_messages_pass_and_the_history_before_the_revision_is_left_alone(repo):
    base = commit(repo, "an old commit whose subject runs on and on " + "x" * 80)
    commit(repo, "Add a placement option\n\nBecause the wineserver's CPU decided the figures.\n"
                 "https://example.invalid/a/very/long/address/without/any/space/in/it/that/runs/past/72")
    done = check(repo, base)
    assert done.returncode == 0, done.stderr
    assert "1 commit message(s) checked, all well formed" in done.stdout


@pytest.mark.parametrize("message, problem", [
    ("S" * 73, "the subject is 73 characters (at most 72)"),
    ("Subject\nno blank line here", "no blank line after the subject"),
    ("Subject\n\n" + "word " * 15, "body line 1 is 74 characters (at most 72)"),
])
def test_each_rule_broken_fails_and_names_the_commit(repo, message, problem):
    base = commit(repo, "base")
    commit(repo, "Fine subject\n\nFine body.")
    commit(repo, message)
    done = check(repo, base)
    assert done.returncode == 1
    assert problem in done.stderr and "1 of 2 commit message(s) break the rules" in done.stderr


def test_a_revision_missing_from_the_history_checks_head_only(repo):
    commit(repo, "x" * 80)
    commit(repo, "Fine subject")
    done = check(repo, "0" * 40)
    assert done.returncode == 0 and "checking HEAD only" in done.stderr
