"""The Windows side of the build, checked from Linux: the CMake presets (which
host lists which, where each builds, the multi-config windows preset's
configuration), the PowerShell entry points (scripts/*.ps1) and the Windows CI
workflow. Nothing here runs on Windows. Every scripts/*.ps1 is parsed with
the tree-sitter PowerShell grammar (npm's WebAssembly build, installed by
scripts/setup.sh into build/powershell-syntax): that checks syntax only, since
Debian 12 and npm have no PowerShell to run them (the npm package "pwsh" only
downloads PowerShell from elsewhere when installed). Where a pwsh is
installed, it parses and runs them too; otherwise they are checked for how
they are put together."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRESETS = json.loads((ROOT / "CMakePresets.json").read_text(encoding="utf-8"))
WINDOWS_PRESETS = {"windows", "windows-mingw"}
# Where each preset builds (the layout both issue-13 parts rely on).
BUILD_FOLDERS = {"native": "build/native", "mingw": "build/mingw", "clang-mingw": "build/clang-mingw",
                 "windows": "build/windows", "windows-mingw": "build/windows-mingw"}
ENTRY_POINTS = ("build.ps1", "test.ps1", "bench.ps1")
PWSH = shutil.which("pwsh")
needs_pwsh = pytest.mark.skipif(PWSH is None, reason="no pwsh here (Debian 12 and npm offer none); "
                                "the .ps1 scripts were reviewed against PowerShell's documentation instead")


def presets(kind):
    return {preset["name"]: preset for preset in PRESETS[kind]}


def resolved(kind, name, field):
    """A field of a preset, inherited as CMake does (the first parent that has it)."""
    preset = presets(kind)[name]
    if field in preset:
        return preset[field]
    parents = preset.get("inherits", [])
    for parent in [parents] if isinstance(parents, str) else parents:
        value = resolved(kind, parent, field)
        if value is not None:
            return value
    return None


def host_of(kind, name):
    condition = resolved(kind, name, "condition")
    assert condition and condition["type"] == "equals" and condition["lhs"] == "${hostSystemName}", \
        f"{kind} {name}: no host condition"
    return condition["rhs"]


def visible(kind):
    return [name for name, preset in presets(kind).items() if not preset.get("hidden")]


@pytest.mark.parametrize("kind", ["configurePresets", "buildPresets", "testPresets"])
def test_each_preset_is_listed_only_on_the_host_it_works_on(kind):
    for name in visible(kind):
        assert host_of(kind, name) == ("Windows" if name in WINDOWS_PRESETS else "Linux"), name
        if kind != "configurePresets":
            configure = presets(kind)[name]["configurePreset"]
            assert host_of(kind, name) == host_of("configurePresets", configure), name


def test_cmake_lists_the_linux_presets_here_and_hides_the_windows_ones():
    done = subprocess.run(["cmake", "--list-presets=all"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    listed = set(re.findall(r'^\s+"([^"]+)"', done.stdout, re.MULTILINE))
    assert {"native", "mingw", "clang-mingw"} <= listed
    assert not listed & WINDOWS_PRESETS


@pytest.mark.parametrize("name", sorted(BUILD_FOLDERS))
def test_each_preset_builds_where_the_harness_looks(name):
    assert resolved("configurePresets", name, "binaryDir") == "${sourceDir}/" + BUILD_FOLDERS[name]


def test_the_windows_preset_is_msvc_multi_config_built_and_tested_in_release():
    windows = presets("configurePresets")["windows"]
    assert windows["generator"] == "Visual Studio 17 2022"
    assert windows["architecture"]["value"] == "x64"
    # A multi-config generator ignores CMAKE_BUILD_TYPE; ctest needs the
    # configuration ("Test not available without configuration").
    assert "CMAKE_BUILD_TYPE" not in windows.get("cacheVariables", {})
    assert presets("buildPresets")["windows"]["configuration"] == "Release"
    assert presets("testPresets")["windows"]["configuration"] == "Release"


def test_the_clang_cross_build_shares_the_gcc_one_s_target_and_only_changes_the_compiler():
    clang = (ROOT / resolved("configurePresets", "clang-mingw", "toolchainFile").replace("${sourceDir}/", ""))
    gcc = (ROOT / resolved("configurePresets", "mingw", "toolchainFile").replace("${sourceDir}/", ""))
    shared = "include(${CMAKE_CURRENT_LIST_DIR}/mingw-w64-target.cmake)"
    assert shared in clang.read_text() and shared in gcc.read_text()
    assert "x86_64-w64-windows-gnu" in clang.read_text()


def script(name):
    return (ROOT / "scripts" / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_each_entry_point_answers_help_and_version_before_any_work(name):
    text = script(name)
    assert ". (Join-Path $PSScriptRoot 'common.ps1')" in text
    assert f"Write-Output 'usage: scripts/{name}" in text
    assert f"Write-ScriptVersion '{name}'" in text
    first_work = min(text.index(call) for call in ("Get-BuildTools", "Get-Python", "Invoke-Build") if call in text)
    assert text.index("Test-HelpArgument") < first_work
    assert text.index("Test-VersionArgument") < first_work


@pytest.mark.parametrize("name", ["build.ps1", "test.ps1"])
def test_build_and_test_refuse_any_other_argument_before_any_work(name):
    text = script(name)
    refusal = text.index(f"Stop-BadUsage '{name}'")
    assert refusal < text.index("Get-BuildTools")


def test_the_entry_points_build_the_windows_presets():
    common = script("common.ps1")
    named = set(re.findall(r"return '(windows[a-z-]*)'", common))
    assert named == WINDOWS_PRESETS
    for name in named:
        assert host_of("configurePresets", name) == "Windows"


def test_the_windows_workflow_runs_entry_points_that_exist():
    workflow = (ROOT / ".github" / "workflows" / "windows.yml").read_text(encoding="utf-8")
    assert re.search(r"^\s+runs-on: windows-latest$", workflow, re.MULTILINE)
    called = re.findall(r"\./scripts/([\w-]+\.ps1)", workflow)
    assert {"test.ps1", "bench.ps1"} <= set(called)
    for name in called:
        assert (ROOT / "scripts" / name).is_file(), name


PARSER = ROOT / "tests" / "tools" / "powershell" / "parse.cjs"
PARSER_MODULES = ROOT / "build" / "powershell-syntax" / "node_modules"


def parse_powershell(*paths):
    if not PARSER_MODULES.is_dir() or shutil.which("node") is None:
        pytest.fail(f"no PowerShell grammar in {PARSER_MODULES} (scripts/setup.sh installs it with npm)")
    return subprocess.run(["node", str(PARSER), "--modules", str(PARSER_MODULES), *map(str, paths)],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_every_powershell_script_parses_without_a_syntax_error():
    scripts = sorted((ROOT / "scripts").glob("*.ps1"))
    assert {path.name for path in scripts} >= {*ENTRY_POINTS, "common.ps1"}
    done = parse_powershell(*scripts)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(scripts)} of {len(scripts)} file(s) parse" in done.stdout


def test_the_parser_finds_a_syntax_error_and_says_where(tmp_path):
    broken = tmp_path / "broken.ps1"
    # an entry point with one brace dropped, as an edit gone wrong would leave it
    text = (ROOT / "scripts" / "build.ps1").read_text(encoding="utf-8")
    line = next(number for number, content in enumerate(text.splitlines(), 1) if content.rstrip().endswith("{"))
    lines = text.splitlines()
    lines[line - 1] = lines[line - 1].rstrip()[:-1] + "("
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = parse_powershell(broken)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{broken}:" in done.stdout and "0 of 1 file(s) parse" in done.stdout


def run_pwsh(*args):
    return subprocess.run([PWSH, "-NoProfile", "-NonInteractive", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


@needs_pwsh
@pytest.mark.parametrize("name", (*ENTRY_POINTS, "common.ps1"))
def test_pwsh_parses_each_script(name):
    command = ("$errors = $null; [System.Management.Automation.Language.Parser]::ParseFile("
               f"'{ROOT / 'scripts' / name}', [ref]$null, [ref]$errors) | Out-Null; "
               "$errors | ForEach-Object { $_.ToString() }; exit $errors.Count")
    done = run_pwsh("-Command", command)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_pwsh
@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_pwsh_runs_help_and_refuses_a_bad_option(name):
    helped = run_pwsh("-File", str(ROOT / "scripts" / name), "--help")
    assert helped.returncode == 0 and helped.stdout.startswith(f"usage: scripts/{name}"), helped.stderr
    if name != "bench.ps1":  # bench.ps1's options are the harness's: it asks the harness (with Python)
        refused = run_pwsh("-File", str(ROOT / "scripts" / name), "--no-such-option")
        assert refused.returncode == 2 and "--no-such-option" in refused.stderr


def workflow(name):
    import yaml
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text(encoding="utf-8"))


def run_lines(job):
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_the_linux_workflow_runs_the_test_command_on_push_and_the_gate_on_pull_requests():
    linux = workflow("linux.yml")
    triggers = linux[True] if True in linux else linux["on"]  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    test, gate = linux["jobs"]["test"], linux["jobs"]["gate"]
    assert "bash .ci/run" in run_lines(test) and "if" not in test
    assert (ROOT / ".ci" / "run").is_file()
    assert gate["if"] == "github.event_name == 'pull_request'"
    commands = run_lines(gate)
    assert "python3 -m harness ab --base" in commands and "--suite gate" in commands
    assert any(step.get("with", {}).get("fetch-depth") == 0 for step in gate["steps"])  # the merge base is there
    assert any(step.get("uses", "").startswith("actions/upload-artifact") for step in gate["steps"])
    assert (ROOT / "harness" / "suites" / "gate.toml").is_file()
    for job in (test, gate):
        assert job["container"] == "debian:12" and job["timeout-minutes"] <= 90


def test_the_windows_workflow_runs_the_gate_on_pull_requests():
    steps = workflow("windows.yml")["jobs"]["msvc"]["steps"]
    gate = next(step for step in steps if "--suite gate" in step.get("run", ""))
    assert gate["if"] == "github.event_name == 'pull_request'" and "harness ab --base" in gate["run"]
