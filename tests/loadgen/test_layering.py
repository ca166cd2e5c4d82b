"""loadgen's event-loop files depend on each other in one direction only:
engine -> worker -> connection (and run, the state the engine shares with
its loops). A module depends on another when its .c or .h includes the
other's header; the graph of all of loadgen's modules must have no cycle."""
import re
from pathlib import Path

LOADGEN = Path(__file__).resolve().parents[2] / "loadgen"
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)\.h"', re.M)


def dependencies():
    """module -> the modules whose headers its .c and .h include."""
    graph = {}
    for source in sorted(LOADGEN.glob("*.[ch]")):
        module = source.stem
        graph.setdefault(module, set()).update(
            name for name in INCLUDE.findall(source.read_text()) if name != module)
    return graph


def reachable(graph, start):
    seen, todo = set(), list(graph.get(start, ()))
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    return seen


def test_no_module_depends_on_itself_through_others():
    graph = dependencies()
    cycles = sorted(module for module in graph if module in reachable(graph, module))
    assert not cycles, f"modules on a dependency cycle: {cycles}"


def test_the_event_loop_layers_point_one_way():
    graph = dependencies()
    assert {"worker", "run"} <= graph["engine"]
    assert {"connection", "run"} <= graph["worker"]
    assert not {"engine", "worker", "run"} & reachable(graph, "connection")
    assert "engine" not in reachable(graph, "worker")
