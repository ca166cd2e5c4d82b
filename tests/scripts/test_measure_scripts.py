"""The measurement scripts (scripts/measure/) answer --help and --version and
refuse a bad option or value in one line, before any work: no Wine, no
server, no load generator started (the tools that record their calls of
test_script_options.py)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import test_script_options
from test_script_options import VERSION_LINE, assert_no_work_done

tree = test_script_options.tree  # the fixture: a copy of the tree, and tools that record their calls

ROOT = Path(__file__).resolve().parents[2]
MEASURE_SCRIPTS = ("wineserver_requests.py", "vs_sample.py", "run_quality.py")
# Options each script needs to get as far as checking anything else.
REQUIRED = {"wineserver_requests.py": [], "vs_sample.py": ["--samples-dir", str(Path(__file__).parent)],
            "run_quality.py": ["some-run"]}


def run_measure(tree, script, *args):
    copy, tools, _ = tree
    for model_file in ROOT.glob("servers/*/model.json"):  # the registry the scripts check --servers against
        (copy / model_file.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(model_file, copy / model_file.relative_to(ROOT))
    env = {**os.environ, "PATH": f"{tools}:/usr/bin:/bin"}
    env.pop("WINEPREFIX", None)
    return subprocess.run([sys.executable, str(copy / "scripts" / "measure" / script), *args], capture_output=True,
                          text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("script", MEASURE_SCRIPTS)
def test_help_explains_and_does_nothing_else(tree, script):
    done = run_measure(tree, script, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: scripts/measure/{script}")
    assert_no_work_done(tree)


@pytest.mark.parametrize("script", MEASURE_SCRIPTS)
def test_version_names_the_script_the_version_file_and_a_commit(tree, script):
    done = run_measure(tree, script, "--version")
    assert done.returncode == 0, done.stderr
    match = VERSION_LINE.match(done.stdout.strip())
    assert match and match[1] == script and match[3] == "unknown", done.stdout
    assert match[2] == (ROOT / "VERSION").read_text().strip()
    assert_no_work_done(tree)


@pytest.mark.parametrize(("script", "args", "named"), [
    ("wineserver_requests.py", ["--no-such-option"], "--no-such-option"),
    ("wineserver_requests.py", ["--messages", "0"], "--messages"),
    ("wineserver_requests.py", ["--baseline", "500", "--messages", "400"], "--baseline"),
    ("wineserver_requests.py", ["--servers", "nosuch"], "nosuch"),
    ("wineserver_requests.py", ["--servers", "reference-epoll"], "not a Winsock model"),
    ("vs_sample.py", ["--no-such-option"], "--no-such-option"),
    ("vs_sample.py", [], "--samples-dir"),
    ("vs_sample.py", ["--samples-dir", "/no/such/samples"], "no such folder"),
    ("vs_sample.py", ["--models", "iocp,nosuch"], "nosuch: no sample stands for it"),
    ("vs_sample.py", ["--points", "pingpong-c1,pingpong-c2"], "pingpong-c2: not a point"),
    ("vs_sample.py", ["--pairs", "0"], "--pairs"),
    ("vs_sample.py", ["--duration", "x"], "--duration"),
    ("vs_sample.py", ["--placement", "everywhere"], "--placement"),
    ("run_quality.py", [], "RUN"),
    ("run_quality.py", ["a", "--no-such-option"], "--no-such-option"),
])
def test_a_bad_option_is_refused_in_one_line_before_any_work(tree, script, args, named):
    # An option the test is about stands alone: what the script requires is added to the others.
    required = [] if not args or "--samples-dir" in args else REQUIRED[script]
    done = run_measure(tree, script, *required, *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and lines[0].startswith(f"{script}: "), done.stderr
    assert_no_work_done(tree)
