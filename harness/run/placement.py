"""Where a run's processes run: the server, the Wine processes that serve it
(its wineserver and Wine's services), and the load generator.

Why it is a factor of its own: under Wine every socket call is a round trip
to the wineserver, and a wake-up across CPUs costs tens of microseconds on
the 2-core machines this project is measured on (7-12 us on one CPU, 67 us
across). So where the scheduler happens to put the wineserver decided the
figures (2-7x per repetition) more than the Winsock model did. On Windows a
socket call runs on the calling thread's CPU; under Wine the wineserver does
the kernel's part of it, so by default it goes with the server.

The modes (--placement):
- colocated (the default): the server and its Wine processes on the
  server's CPUs, the load generator on the others;
- split: the server on the server's CPUs, its Wine processes on the load
  generator's (the worst case, for the placement suite);
- pinned: the server and the load generator pinned, Wine's processes free
  (what --pin did before placement was a factor);
- free: nothing placed; the scheduler decides.

The CPU sets: the load generator gets as many CPUs as its threads need (the
suite's largest thread count, at least one), taken from the end of the CPUs
this process may use, and the server gets the rest (at least one). On 2 CPUs
that is CPU 0 for the server, CPU 1 for the load generator.

What the processes were allowed to run on is read back from the system at
the start of the load and again at its end, and recorded; a repetition where
that differs from what the mode asked for did not hold its placement.

A run on other hosts places its server host's processes instead, with the
same Placement (naming the host) and the same verdict on what is read back:
harness.run.remote_placement."""
from dataclasses import dataclass

from harness import platforms
from harness.platforms.wine import wine_processes
from harness.run.errors import RunError
from harness.suites import PLACEMENT_MODES

MODES = PLACEMENT_MODES
DEFAULT_MODE = "colocated"
MODE_HELP = {
    "colocated": "server and its Wine processes (wineserver, services) on the server's CPUs, load generator on "
                 "the others",
    "split": "server on the server's CPUs, its Wine processes on the load generator's",
    "pinned": "server and load generator pinned, Wine's processes left to the scheduler",
    "free": "nothing pinned: the scheduler decides",
}


@dataclass(frozen=True)
class Placement:
    """The CPUs a mode asks for; None: not pinned (the scheduler decides).
    host: the server host's name in a run on other hosts (the load generator
    is not there, so it is not placed); not_placed: why a server host's
    processes cannot be placed at all (a windows host)."""
    mode: str
    server_cpus: tuple | None
    wine_cpus: tuple | None
    loadgen_cpus: tuple | None
    all_cpus: tuple | None   # what this process (or one started on the host) may use: where "not pinned" ones may run
    host: str | None = None
    not_placed: str | None = None

    def to_manifest(self):
        placed = {"mode": self.mode, "server_cpus": _listed(self.server_cpus),
                  "wineserver_cpus": _listed(self.wine_cpus), "loadgen_cpus": _listed(self.loadgen_cpus)}
        if self.host is None:
            return placed
        return {**placed, "host": self.host, "host_cpus": _listed(self.all_cpus), "not_placed": self.not_placed}

    @classmethod
    def from_manifest(cls, data, all_cpus=None):
        """all_cpus: this machine's usable CPUs; a server host's are in the manifest."""
        if data.get("host") is not None:
            all_cpus = data.get("host_cpus")
        return cls(data["mode"], _tupled(data.get("server_cpus")), _tupled(data.get("wineserver_cpus")),
                   _tupled(data.get("loadgen_cpus")), _tupled(all_cpus), data.get("host"), data.get("not_placed"))

    def expected(self):
        """What a read-back should find: the asked-for CPUs, or every CPU for
        a process left to the scheduler. Nothing for a load generator on
        other hosts than the server's."""
        return {"server_cpus": _listed(self.server_cpus or self.all_cpus),
                "wineserver_cpus": _listed(self.wine_cpus or self.all_cpus),
                "loadgen_cpus": None if self.host else _listed(self.loadgen_cpus or self.all_cpus)}


def _listed(cpus):
    return list(cpus) if cpus is not None else None


def _tupled(cpus):
    return tuple(cpus) if cpus is not None else None


def split_cpus(usable, loadgen_threads):
    """(server CPUs, load generator CPUs) out of `usable`: the load generator
    gets its threads' worth from the end, the server the rest, each at least
    one. None if there are fewer than two CPUs."""
    if not usable or len(usable) < 2:
        return None
    loadgen_count = min(max(1, loadgen_threads), len(usable) - 1)
    return tuple(usable[:-loadgen_count]), tuple(usable[-loadgen_count:])


def plan_placement(mode, loadgen_threads=1, system=None):
    """The Placement of `mode` on this machine. RunError (one line) where
    the mode cannot be had: too few CPUs, or no way to pin."""
    if mode not in MODES:
        raise RunError(f"unknown placement '{mode}' (one of: {', '.join(MODES)})")
    system = system or platforms.current()
    usable = system.usable_cpus()
    if mode == "free":
        return Placement(mode, None, None, None, _tupled(usable))
    if usable is None:
        raise RunError(f"--placement {mode}: {system.system} gives this harness no way to pin a process to a CPU "
                       f"({system.affinity_call} is not available); use --placement free")
    sets = split_cpus(usable, loadgen_threads)
    if sets is None:
        raise RunError(f"--placement {mode} needs at least 2 CPUs; this process may use {len(usable)} "
                       "(use --placement free)")
    server, loadgen = sets
    wine = {"colocated": server, "split": loadgen, "pinned": None}[mode]
    return Placement(mode, server, wine, loadgen, tuple(usable))


def place_wine(placement, prefix, server_pid=None, system=None):
    """Moves the prefix's wineserver and Wine programs, but for the server
    itself (placed at its start), to the placement's Wine CPUs (every usable
    CPU when the mode leaves them free, undoing an earlier run's placement).
    Returns the pids it placed. A process that cannot be moved is left where
    it is: the read-back says so."""
    if placement is None or prefix is None:
        return []
    cpus = placement.wine_cpus or placement.all_cpus
    if not cpus:
        return []
    system = system or platforms.current()
    placed = []
    for pid in wine_processes(prefix):
        if pid == server_pid:
            continue
        try:
            system.place(pid, cpus)
            placed.append(pid)
        except OSError:
            pass
    return placed


def release_wine(placement, prefix, system=None):
    """At the end of a run: the Wine processes back on every CPU, so that
    what runs on the prefix after it (tests, another run) is not placed by it."""
    if placement is not None and placement.all_cpus:
        place_wine(Placement("free", None, None, None, placement.all_cpus), prefix, system=system)


def read_back(server_pid, wineserver_pid, loadgen_pid, system=None):
    """The CPUs each process may use, as the system says now (None: gone or
    unreadable)."""
    system = system or platforms.current()

    def allowed(pid):
        return system.allowed_cpus(pid) if pid else None
    return {"server_cpus": allowed(server_pid), "wineserver_cpus": allowed(wineserver_pid),
            "loadgen_cpus": allowed(loadgen_pid)}


def record_of(placement, at_start, at_end, under_wine):
    """The record's `placement`: the mode, the CPUs read back at the start of
    the load (and at its end), and whether that is what the mode asked for
    all along. Readings that could not be made are not held against it. On
    a server host that cannot be placed, why not, and no verdict."""
    if placement is None:
        return None
    on_host = {"host": placement.host} if placement.host else {}
    if placement.not_placed:
        return {"mode": placement.mode, **on_host, "server_cpus": None, "wineserver_cpus": None,
                "loadgen_cpus": None, "at_end": None, "held": None, "problems": None,
                "not_placed": placement.not_placed}
    expected = placement.expected()
    if not under_wine:
        expected["wineserver_cpus"] = None
    problems = []
    for name, wanted in expected.items():
        if wanted is None:
            continue
        for when, reading in (("start", at_start), ("end", at_end)):
            found = (reading or {}).get(name)
            if found is not None and list(found) != list(wanted):
                problems.append(f"{name.replace('_cpus', '')} on CPUs {_cpu_text(found)} at the {when}, "
                                f"not {_cpu_text(wanted)}")
    return {"mode": placement.mode, **on_host, **(at_start or {}),
            "wineserver_cpus": (at_start or {}).get("wineserver_cpus") if under_wine else None,
            "at_end": at_end, "held": not problems, "problems": problems or None}


def _cpu_text(cpus):
    return ",".join(str(cpu) for cpu in cpus)
