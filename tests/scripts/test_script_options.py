"""Every script answers --help and --version, and refuses a bad option, before
doing any work: no package installed, nothing built, no program started.

Each script runs in a copy of the tree's scripts, harness and VERSION, with a
PATH whose apt-get, cmake, ctest, wine, wine64 and wineserver only record that
they were called: the test then checks that none was, and that no build folder
appeared."""
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ("setup.sh", "build.sh", "test.sh", "bench.sh", "lint.sh", "analyze.sh", "format.sh", "sanitize.sh", "fuzz.sh",
           "commits.sh", "measure/stop_and_scale.py")
RECORDED_TOOLS = ("apt-get", "dpkg-query", "cmake", "ctest", "wine", "wine64", "wineserver", "sudo",
                  "clang-tidy", "clang-format")
VERSION_LINE = re.compile(r"^(\S+) winsock-bench (\d+\.\d+\.\d+) (\S+)$")


@pytest.fixture
def tree(tmp_path):
    """A copy of what the scripts need, and tools that record their calls."""
    copy = tmp_path / "tree"
    shutil.copytree(ROOT / "scripts", copy / "scripts")
    shutil.copytree(ROOT / "harness", copy / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "VERSION", copy / "VERSION")
    tools = tmp_path / "tools"
    tools.mkdir()
    calls = tmp_path / "calls"
    for tool in RECORDED_TOOLS:
        path = tools / tool
        path.write_text(f"#!/bin/sh\necho {tool} \"$@\" >> {calls}\nexit 1\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return copy, tools, calls


def run_script(tree, script, *args):
    copy, tools, _ = tree
    python_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{tools}:{python_dir}:/usr/bin:/bin"}
    env.pop("WINEPREFIX", None)
    interpreter = sys.executable if script.endswith(".py") else "bash"
    return subprocess.run([interpreter, str(copy / "scripts" / script), *args], capture_output=True, text=True,
                          timeout=60, env=env, stdin=subprocess.DEVNULL)


def assert_no_work_done(tree):
    copy, _, calls = tree
    assert not calls.exists(), f"tools were called: {calls.read_text()}"
    assert not (copy / "build").exists()
    assert not (copy / "results").exists()


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_explains_and_does_nothing_else(tree, script):
    done = run_script(tree, script, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: scripts/{script}")
    assert_no_work_done(tree)


@pytest.mark.parametrize("script", SCRIPTS)
def test_version_names_the_script_the_version_file_and_a_commit(tree, script):
    done = run_script(tree, script, "--version")
    assert done.returncode == 0, done.stderr
    match = VERSION_LINE.match(done.stdout.strip())
    assert match, done.stdout
    assert match[1] == Path(script).name
    assert match[2] == (ROOT / "VERSION").read_text().strip()
    assert match[3] == "unknown"  # the copy is not a git tree
    assert_no_work_done(tree)


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_bad_option_is_refused_in_one_line_before_any_work(tree, script):
    done = run_script(tree, script, "--no-such-option")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--no-such-option" in lines[0], done.stderr
    assert_no_work_done(tree)


def test_bench_refuses_a_bad_value_before_any_work(tree):
    done = run_script(tree, "bench.sh", "--reps", "0")
    assert done.returncode == 2
    assert "--reps" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert_no_work_done(tree)


def test_the_harness_version_matches_the_version_file():
    done = subprocess.run([sys.executable, "-m", "harness", "--version"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0
    match = VERSION_LINE.match(done.stdout.strip())
    assert match and match[1] == "harness"
    assert match[2] == (ROOT / "VERSION").read_text().strip()
