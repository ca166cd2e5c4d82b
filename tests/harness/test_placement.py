"""Placement (harness.run.placement): the CPU sets each mode asks for, the
verdict on what was read back, the suite's per-point placements, runs placed
differently refused by compare and agree, and a real run under Wine whose
wineserver is found, placed and read back from /proc."""
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import agree, compare, store, suites
from harness.loadgen import LoadgenNotFound, find_loadgen
from harness.platforms import procfs, wine
from harness.run import placement
from harness.servers import server_command
import synthetic

ROOT = Path(__file__).resolve().parents[2]


# --- the CPU sets ------------------------------------------------------------------

@pytest.mark.parametrize("usable, threads, expected", [
    ([0, 1], 1, ((0,), (1,))),                       # this project's machines
    ([0, 1], 4, ((0,), (1,))),                       # the server keeps one CPU whatever the threads
    (list(range(8)), 2, ((0, 1, 2, 3, 4, 5), (6, 7))),  # the load generator's threads' worth, from the end
    ([0, 1, 3], 1, ((0, 1), (3,))),                  # the CPUs this process may use, not 0..n-1
    ([4], 1, None), ([], 1, None), (None, 1, None),
])
def test_the_load_generator_gets_its_threads_worth_and_the_server_the_rest(usable, threads, expected):
    assert placement.split_cpus(usable, threads) == expected


class FourCpus:
    system, affinity_call = "Linux", "os.sched_setaffinity"

    def usable_cpus(self):
        return [0, 1, 2, 3]


def test_each_mode_puts_the_wine_processes_where_it_says():
    modes = {mode: placement.plan_placement(mode, 1, FourCpus()) for mode in placement.MODES}
    assert modes["colocated"].wine_cpus == modes["colocated"].server_cpus == (0, 1, 2)
    assert modes["split"].wine_cpus == modes["split"].loadgen_cpus == (3,)
    assert modes["pinned"].wine_cpus is None and modes["pinned"].loadgen_cpus == (3,)
    assert modes["free"].server_cpus is modes["free"].loadgen_cpus is modes["free"].wine_cpus is None
    assert modes["free"].expected() == {name: [0, 1, 2, 3] for name in ("server_cpus", "wineserver_cpus",
                                                                        "loadgen_cpus")}
    with pytest.raises(placement.RunError, match="unknown placement 'nearby'"):
        placement.plan_placement("nearby", 1, FourCpus())


# --- the verdict on what was read back ----------------------------------------------

COLOCATED = placement.Placement("colocated", (0,), (0,), (1,), (0, 1))


def reading(server, wineserver, loadgen):
    return {"server_cpus": server, "wineserver_cpus": wineserver, "loadgen_cpus": loadgen}


def test_a_repetition_holds_its_placement_only_if_every_reading_matches():
    held = placement.record_of(COLOCATED, reading([0], [0], [1]), reading([0], [0], None), under_wine=True)
    assert held["held"] and held["problems"] is None and held["wineserver_cpus"] == [0]
    moved = placement.record_of(COLOCATED, reading([0], [0], [1]), reading([0], [0, 1], None), under_wine=True)
    assert not moved["held"] and moved["problems"] == ["wineserver on CPUs 0,1 at the end, not 0"]
    loadgen_free = placement.record_of(COLOCATED, reading([0], [0], [0, 1]), None, under_wine=True)
    assert loadgen_free["problems"] == ["loadgen on CPUs 0,1 at the start, not 1"]


def test_a_native_server_has_no_wineserver_to_hold_and_unread_figures_count_for_nothing():
    native = placement.record_of(COLOCATED, reading([0], [0, 1], [1]), None, under_wine=False)
    assert native["held"] and native["wineserver_cpus"] is None
    unread = placement.record_of(COLOCATED, reading(None, None, None), reading(None, None, None), under_wine=True)
    assert unread["held"]
    assert placement.record_of(None, reading([0], [0], [1]), None, under_wine=True) is None


# --- points with placements of their own ---------------------------------------------

SUITE = """description = "placements"
reps = 1
servers = ["iocp"]
[[point]]
id = "pingpong-c{connections}"
workload = "pingpong"
connections = [1, 8]
duration = 0.5
placement = PLACEMENT
"""


def parse(placement_value):
    return suites.parse_suite(SUITE.replace("PLACEMENT", placement_value), Path("p.toml"), ["iocp"])


def test_a_point_under_several_placements_becomes_one_point_a_placement():
    points = parse('["colocated", "split"]').points
    assert [(p.id, p.placement, p.sweep["name"]) for p in points] == [
        ("pingpong-c1-colocated", "colocated", "pingpong-connections-colocated"),
        ("pingpong-c1-split", "split", "pingpong-connections-split"),
        ("pingpong-c8-colocated", "colocated", "pingpong-connections-colocated"),
        ("pingpong-c8-split", "split", "pingpong-connections-split")]
    assert suites.Point.from_manifest(points[1].to_manifest()) == points[1]
    assert [(p.id, p.placement) for p in parse('"free"').points] == [("pingpong-c1", "free"), ("pingpong-c8", "free")]


@pytest.mark.parametrize("value", ['"nearby"', '[]', '["free", "free"]', '3'])
def test_a_bad_placement_in_a_suite_is_a_one_line_error(value):
    with pytest.raises(suites.SuiteError, match=r"'placement' must be one of colocated, split, pinned, free"):
        parse(value)


def test_the_placement_suite_puts_four_points_under_every_mode():
    suite = suites.load_suite("placement", ["iocp", "select"])
    modes = {point.placement for point in suite.points}
    assert modes == set(placement.MODES) and len(suite.points) == 4 * len(placement.MODES)


# --- runs placed differently are not compared ----------------------------------------

def placed_run(path, mode):
    samples = [[100.0 + rep, 110.0, 120.0] for rep in range(6)]
    run_dir = synthetic.write_run(path, {("pingpong-c1", "iocp"): samples, ("pingpong-c1", "select"): samples})
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["placement"] = {"mode": mode, "server_cpus": [0], "wineserver_cpus": [0], "loadgen_cpus": [1]}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return run_dir


def test_compare_and_agree_refuse_runs_placed_differently(tmp_path):
    colocated, free = placed_run(tmp_path / "a", "colocated"), placed_run(tmp_path / "b", "free")
    out, err = io.StringIO(), io.StringIO()
    assert compare.main(colocated, free, 5.0, allow_different=True, out=out, err=err) == 2
    assert "placed their processes differently" in err.getvalue()
    assert "placement: colocated (server 0; wineserver 0; loadgen 1) (base) vs free" in err.getvalue()
    err = io.StringIO()
    assert agree.main(colocated, free, out=io.StringIO(), err=err) == 2
    assert "placed their processes differently" in err.getvalue()
    assert compare.main(colocated, placed_run(tmp_path / "c", "colocated"), 5.0, out=io.StringIO(),
                        err=io.StringIO()) == 0


def test_a_run_from_before_placement_reads_as_what_its_pin_did():
    assert store.placement_of({"pin": None})["mode"] == "free"
    assert store.placement_of({"pin": {"server_cpus": [0], "loadgen_cpus": [1]}}) == {
        "mode": "pinned", "server_cpus": [0], "wineserver_cpus": None, "loadgen_cpus": [1]}
    assert store.placement_of({"topology": {"server": {}}}) is None


# --- a real run under Wine -----------------------------------------------------------

REAL_SUITE = """description = "placement read back"
reps = 1
servers = ["select"]
[[point]]
id = "pingpong-c2"
workload = "pingpong"
connections = 2
duration = 0.3
warmup = 0.1
placement = ["colocated", "split", "free"]
"""


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="placement needs 2 CPUs")
def test_a_real_run_places_the_wineserver_and_reads_it_back_from_proc(tmp_path):
    try:
        find_loadgen()
        server_command("select")
    except (LoadgenNotFound, FileNotFoundError) as missing:
        pytest.fail(f"{missing} (scripts/build.sh builds everything)")
    suite = tmp_path / "placed.toml"
    suite.write_text(REAL_SUITE)
    # WINEPREFIX set as a user sets it: the harness has it in its own environment, and must not take
    # itself for one of the prefix's Wine programs (it once pinned itself with them)
    env = {**os.environ, "WINEPREFIX": str(wine.run_prefix())}
    done = subprocess.run([sys.executable, "-m", "harness", "run", "--suite", suite, "--out", tmp_path / "run"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    usable = sorted(os.sched_getaffinity(0))
    server, loadgen = usable[:-1], usable[-1:]
    for mode, wine_cpus in (("colocated", server), ("split", loadgen), ("free", usable)):
        record = json.loads((tmp_path / "run" / "points" / f"pingpong-c2-{mode}" / "select.current.r0.json")
                            .read_text())
        placed = record["placement"]
        assert placed["held"], placed
        expected = (usable, usable, usable) if mode == "free" else (server, wine_cpus, loadgen)
        assert (placed["server_cpus"], placed["wineserver_cpus"], placed["loadgen_cpus"]) == expected, placed
        assert placed["at_end"]["wineserver_cpus"] == wine_cpus
    # the run is over: the prefix's wineserver, which outlives it, is free again
    pid = wine.find_wineserver(wine.run_prefix())
    assert pid is not None and procfs.allowed_cpus(pid) == usable


# --- what a run's analysis and its quality figures make of the records --------------

def test_a_cell_whose_placement_did_not_hold_says_so_and_the_quality_figures_count_it(tmp_path):
    from harness.analysis.cells import load_cells
    samples = [[100.0 + rep, 110.0, 120.0] for rep in range(6)]

    def place(record):
        moved = record["server"] == "select" and record["rep"] < 2
        record["placement"] = {"mode": "colocated", "server_cpus": [0], "wineserver_cpus": [0, 1] if moved else [0],
                               "loadgen_cpus": [1], "held": not moved,
                               "problems": ["wineserver on CPUs 0,1 at the start, not 0"] if moved else None}
    run_dir = synthetic.write_run(tmp_path / "run", {("pingpong-c1", "iocp"): samples,
                                                     ("pingpong-c1", "select"): samples}, edit=place)
    _, cells = load_cells(run_dir)
    notes = {cell.server: cell.notes for cell in cells}
    assert notes["iocp"] == []
    assert notes["select"] == ["placement not held in 2 of 6 repetitions (wineserver on CPUs 0,1 at the start, not 0)"]
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "measure" / "run_quality.py"), str(run_dir),
                           "--json", "-"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["repetitions"] == {"ok_repetitions": 12, "placement_held": 10, "busy": 0}
    assert figures["verdicts"]["all"]["pairs"] == 2  # one pair of Winsock models, two metrics
