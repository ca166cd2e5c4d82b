"""The harness's data flows one way (harness/README.md, "Modules"): suite ->
plan -> records -> cells -> rankings -> report. Each module belongs to a layer
and imports only from the layers it stands on, read from its source (ast), so
a forbidden import fails here before it becomes a cycle or a tangle:

    base       what everyone reads: records and stats at the bottom, the run
               folder (store), the verdicts between samples, the model
               registry, the platform layer
    tools      what runs things: suites, servers, the load generator, hosts
    run        `run`: harness/run/ (base and tools, never analysis)
    analysis   records -> cells -> rankings: harness/analysis/ (base only, never run)
    report     harness/report/ (analysis and base)
    commands   compare, agree, ab, sensitivity (any layer below)
    cli        __main__ (on top)

run and analysis stand side by side: what both need (reading a record,
judging a pair) lives in base. A new module fails the test until it is given
a layer."""
import ast
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "harness"

# Each layer and the layers it may import from (its own always allowed).
MAY_IMPORT = {
    "base": set(),
    "tools": {"base"},
    "run": {"base", "tools"},
    "analysis": {"base"},
    "report": {"base", "analysis"},
    "commands": {"base", "tools", "run", "analysis", "report"},
    "cli": {"base", "tools", "run", "analysis", "report", "commands"},
}
LAYER_OF = {
    "harness": "base", "harness.records": "base", "harness.stats": "base", "harness.store": "base",
    "harness.verdicts": "base", "harness.models": "base", "harness.version": "base", "harness.platforms": "base",
    "harness.suites": "tools", "harness.servers": "tools", "harness.loadgen": "tools", "harness.clients": "tools",
    "harness.hosts": "tools", "harness.deploy": "tools",
    "harness.run": "run",
    "harness.analysis": "analysis",
    "harness.report": "report",
    "harness.compare": "commands", "harness.agree": "commands", "harness.ab": "commands",
    "harness.sensitivity": "commands",
    "harness.__main__": "cli",
}
# Within base, records and stats are the floor: they import no other harness module but each other.
FLOOR = {"harness.records", "harness.stats"}


def module_name(path):
    parts = path.relative_to(HARNESS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def harness_modules():
    """module name -> its source file, for every .py under harness/."""
    return {module_name(path): path for path in sorted(HARNESS.rglob("*.py"))}


def imported_modules(name, path):
    """The harness modules a module imports, anywhere in its source (a function's own
    imports count too). `from harness import x` names the module harness.x when there is one."""
    known = harness_modules()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {module for module in found if module == "harness" or module.startswith("harness.")}


def layer_of(module):
    """The layer of a module: its own entry, else its package's (harness/run/,
    harness/analysis/, ...). Not the top package's: a new top-level module has no
    layer until it is given one."""
    while module not in LAYER_OF:
        module = module.rpartition(".")[0]
        if module in ("", "harness"):
            return None
    return LAYER_OF[module]


def violations(imports):
    """(importer, imported) pairs that go against the layers, from {module: its imports}."""
    found = []
    for importer, targets in imports.items():
        own = layer_of(importer)
        for target in sorted(targets):
            allowed = {own} | MAY_IMPORT.get(own, set())
            if layer_of(target) not in allowed or (importer in FLOOR and target not in FLOOR | {"harness"}):
                found.append((importer, target))
    return found


def all_imports():
    return {name: imported_modules(name, path) for name, path in harness_modules().items()}


def test_every_harness_module_has_a_layer():
    unplaced = sorted(name for name in harness_modules() if layer_of(name) is None)
    assert not unplaced, f"give these modules a layer in LAYER_OF: {unplaced}"


def test_every_import_goes_down_the_layers():
    found = violations(all_imports())
    assert not found, "imports against the layers (importer -> imported): " + \
        ", ".join(f"{a} -> {b}" for a, b in found)


def test_run_and_analysis_do_not_know_each_other():
    imports = all_imports()
    for name, targets in imports.items():
        if layer_of(name) == "run":
            assert not any(layer_of(t) == "analysis" for t in targets), f"{name} imports analysis: {targets}"
        if layer_of(name) == "analysis":
            assert not any(layer_of(t) == "run" for t in targets), f"{name} imports run: {targets}"


def test_the_checker_sees_each_kind_of_import(tmp_path):
    """The parser resolves the import forms the harness uses, so a forbidden one cannot slip by."""
    source = tmp_path / "harness" / "run" / "probe.py"
    source.parent.mkdir(parents=True)
    source.write_text("from harness import analysis, stats\nfrom ..report import charts\n"
                      "def late():\n    import harness.analysis.cells\n    from . import rounds\n")
    found = imported_modules("harness.run.probe", source)
    assert {"harness.analysis", "harness.stats", "harness.report.charts", "harness.analysis.cells",
            "harness.run.rounds"} <= found
    assert violations({"harness.run.probe": found}) == [
        ("harness.run.probe", "harness.analysis"), ("harness.run.probe", "harness.analysis.cells"),
        ("harness.run.probe", "harness.report.charts")]
    assert violations({"harness.records": {"harness.store"}}) == [("harness.records", "harness.store")]
