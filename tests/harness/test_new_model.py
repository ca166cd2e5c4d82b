"""Adding a model is one new folder and nothing else (issue 9): in a copy of
the tree, a folder servers/dummy with a main.c (iocp's, renamed) and a
model.json is built by CMake with its checks, listed by `harness list`,
planned by the default suite, drawn in its own chart style, and counted in
Kendall's tau against Microsoft's order; the variant its model.json names is
tested as a server of its own."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import models

ROOT = Path(__file__).resolve().parents[2]
# Not copied: builds, results, git and caches; nothing the build or the harness reads.
SKIPPED = shutil.ignore_patterns("build", "results", ".git", "__pycache__", ".pytest_cache")
DUMMY = {"name": "dummy", "title": "a dummy model", "platform": "windows", "family": "completion",
         "microsoft_rank": 6, "style": {"color": "#101010", "marker": "8"}, "max_connections": None,
         "options": ["threads", "accept_pool", "batch", "skip_on_success"], "variants": [["--batch", "4"]]}
CHECK_STYLE_AND_TAU = """
import json
from harness.analysis import microsoft
from harness.analysis.rankings import Ranking
from harness.report import charts
from harness import stats
order = ["iocp", "overlapped", "wsapoll", "dummy"]  # every pair resolved, the earlier better
verdicts = [stats.Verdict(a, b, a, 1.0, None, None, 0.01) for i, a in enumerate(order) for b in order[i + 1:]]
ranking = Ranking("overall", "throughput", "current", order, verdicts, {}, [])
style = charts.style_for("dummy")
print(json.dumps({"style": [style.colour, style.marker, style.linestyle],
                  "ranked": microsoft.microsoft_models_in(ranking),
                  "tau": microsoft.agreement_with_microsoft(ranking),
                  "legend": charts.order_keys(["dummy", "reference-epoll", "asyncselect"])}))
"""


def run(argv, cwd, timeout=600, env=None):
    env = {**{k: v for k, v in os.environ.items() if k not in ("WSB_MINGW_DIR", "WSB_NATIVE_DIR", "WSB_SERVERS")},
           **(env or {})}
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A copy of the tree with servers/dummy added, and nothing else changed."""
    if shutil.which("x86_64-w64-mingw32-gcc") is None:
        pytest.skip("needs the mingw-w64 cross compiler (scripts/setup.sh installs it)")
    copy = tmp_path_factory.mktemp("tree") / "winsock-bench"
    shutil.copytree(ROOT, copy, ignore=SKIPPED)
    folder = copy / "servers" / "dummy"
    folder.mkdir()
    source = (copy / "servers" / "iocp" / "main.c").read_text()
    assert '.name = "iocp"' in source
    (folder / "main.c").write_text(source.replace('.name = "iocp"', '.name = "dummy"'))
    (folder / "model.json").write_text(json.dumps(DUMMY, indent=2) + "\n")
    return copy


@pytest.fixture(scope="module")
def built(tree):
    """The copy configured with the mingw preset and its dummy target built."""
    run(["cmake", "--preset", "mingw"], tree)
    run(["cmake", "--build", "--preset", "mingw", "--target", "dummy", "--parallel", "2"], tree, timeout=900)
    return tree


def test_cmake_builds_the_new_folder_with_its_checks(built):
    tree = built
    assert (tree / "build" / "mingw" / "servers" / "dummy.exe").is_file()
    checks = run(["ctest", "--preset", "mingw", "-N"], tree)
    for check in ("dummy.help", "dummy.version", "dummy.bad-option"):
        assert check in checks
    # The executable is the dummy model (run under Wine with this tree's prefix).
    usage = run([str(ROOT / "scripts" / "wine-run"), str(tree / "build" / "mingw" / "servers" / "dummy.exe"),
                 "--help"], tree, timeout=120)
    assert "usage: dummy" in usage


def test_harness_list_shows_it_built(built):
    listed = [line.split() for line in run([sys.executable, "-m", "harness", "list"], built).splitlines()]
    assert ["dummy", "Wine", "completion", "built"] in [line[:4] for line in listed]


def test_the_default_suite_plans_it(tree):
    plan = run([sys.executable, "-m", "harness", "run", "--suite", "default", "--dry-run"], tree)
    servers = next(line for line in plan.splitlines() if line.strip().startswith("servers:"))
    assert "dummy" in servers.split(":", 1)[1].replace(",", " ").split()
    smoke = run([sys.executable, "-m", "harness", "run", "--suite", "smoke", "--servers", "dummy", "--dry-run"], tree)
    assert "smoke: " in smoke and " 0 (point, server) cells" not in smoke


def test_its_chart_style_and_its_place_in_microsoft_s_order_count(tree):
    found = json.loads(run([sys.executable, "-c", CHECK_STYLE_AND_TAU], tree))
    assert found["style"] == [DUMMY["style"]["color"], DUMMY["style"]["marker"], "-"]
    assert "dummy" in found["ranked"]
    # iocp > overlapped > wsapoll > dummy is Microsoft's order (dummy ranks 6th): with dummy
    # counted there are four ranked models, so there is a tau, and a perfect one.
    assert found["tau"] == 1.0
    assert found["legend"] == ["asyncselect", "dummy", "reference-epoll"]


def test_its_variant_is_tested_as_a_server_of_its_own(tree):
    env = {"WSB_SERVERS": "dummy"}
    collected = run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                     "tests/conformance/test_conformance.py"], tree, env=env)
    ids = {line.rsplit("[", 1)[1].rstrip("]") for line in collected.splitlines() if line.endswith("]")}
    assert {"dummy", "dummy-batch-4"} <= ids, collected[-2000:]


def test_the_copy_left_the_real_registry_alone():
    assert "dummy" not in models.all_models()


@pytest.mark.parametrize("change, expected", [
    ({"platform": "macos"}, 'platform must be windows or linux, not "macos"'),
    ({"name": "other"}, 'name "other" must be the folder\'s name ("dummy")'),
])
def test_cmake_refuses_a_bad_model_json_naming_it(tmp_path, change, expected):
    copy = tmp_path / "winsock-bench"
    shutil.copytree(ROOT, copy, ignore=SKIPPED)
    folder = copy / "servers" / "dummy"
    shutil.copytree(copy / "servers" / "select", folder)
    (folder / "model.json").write_text(json.dumps({**DUMMY, **change}))
    done = subprocess.run(["cmake", "-S", str(copy), "-B", str(copy / "build" / "check")], capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode != 0
    assert "servers/dummy/model.json" in done.stderr and expected in done.stderr, done.stderr
