"""winsock-bench orchestrator: python3 -m harness --help

The command line only: each sub-command checks its options, then hands over
to the module that does the work (imported when needed, so one broken or
missing module does not take the other commands down)."""
import argparse
import os
import signal
import sys
import time
from pathlib import Path

EXAMPLES = """\
examples:
  python3 -m harness list
  python3 -m harness run --suite smoke --servers iocp,reference-epoll
  python3 -m harness report results/runs/20260101-120000-smoke
  python3 -m harness compare results/reference/default results/runs/20260101-120000-default
  python3 -m harness agree results/runs/20260101-120000-default results/runs/20260101-123000-default
  python3 -m harness ab --base HEAD~1 --suite smoke
"""

WORKLOAD_DESCRIPTIONS = {
    "pingpong": "one message outstanding per connection (closed loop)",
    "pipeline": "--depth messages outstanding per connection",
    "rate": "open loop at --rate messages/s in total; latency from each intended send time",
    "churn": "connect, one message, close; --concurrency operations in flight",
    "idle": "--idle idle connections held while --connections run ping-pong",
}
DEFAULT_THRESHOLD = 5.0
DEFAULT_WAIT_IDLE_S = 60.0
ALLOW_DIFFERENT_HELP = ("compare even when the two sides were not measured alike (point options, suite, platform, "
                        "CPU, build); the differences are printed first")


class UsageError(Exception):
    """Bad input from the user: exit 2 with this one line."""


def number_type(parse, kind, accepts, range_text):
    """An argparse type: `parse` the text, then check it with `accepts`."""
    def convert(text):
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
        if not accepts(value):
            raise argparse.ArgumentTypeError(f"{text} is not in {range_text}")
        return value
    return convert


positive_int = number_type(int, "a whole number", lambda v: 1 <= v <= 1000, "1..1000")
seed_value = number_type(int, "a whole number", lambda v: 0 <= v < 2**64, "0..2**64-1")
wait_seconds = number_type(float, "a number of seconds", lambda v: 0 < v <= 3600, "(0, 3600]")
duration_seconds = number_type(float, "a number of seconds", lambda v: 0.001 <= v <= 86400, "0.001..86400")
warmup_seconds = number_type(float, "a number of seconds", lambda v: 0 <= v <= 3600, "0..3600")
percentage = number_type(float, "a number", lambda v: 0 < v < 100, "(0, 100)")


class VersionAction(argparse.Action):
    """--version, computed only when asked for (it runs git)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from harness.version import version_line
        print(version_line("harness"))
        parser.exit(0)


def build_parser():
    from harness.run.noise import BUSY_OTHER_CORES
    parser = argparse.ArgumentParser(
        prog="python3 -m harness", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Runs winsock-bench suites against the echo servers, then reports and compares the results.",
        epilog=EXAMPLES)
    parser.add_argument("--version", action=VersionAction, help="print the version and git commit, and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    commands.add_parser("list", help="servers (built or not), workloads and suites",
                        description="Lists the servers (built or not, where), the workloads and the suites "
                                    "(with their estimated time on the default servers).")

    run = commands.add_parser("run", help="run a suite (or finish an interrupted run)",
                              description="Runs a suite: every point on every server, repeated (adaptively "
                                          "where the suite says so), interleaved in a seeded random order; one "
                                          "JSON record per run in the run folder.")
    run.add_argument("--suite", metavar="NAME", help="a suite of harness/suites (smoke, default, full) or a .toml path")
    run.add_argument("--servers", metavar="A,B", help="comma-separated servers (default: the suite's)")
    run.add_argument("--reps", type=positive_int, metavar="N",
                     help="a fixed number of repetitions (default: the suite's, adaptive where it says so)")
    run.add_argument("--seed", type=seed_value, metavar="S", help="order seed (default 1, recorded)")
    run.add_argument("--out", metavar="DIR", help="run folder (default results/runs/<YYYYmmdd-HHMMSS>-<suite>)")
    add_placement_options(run, with_hosts=True)
    run.add_argument("--wait-idle", type=wait_seconds, nargs="?", const=DEFAULT_WAIT_IDLE_S, metavar="SECONDS",
                     help="before each repetition on a busy machine, wait up to SECONDS (default "
                          f"{DEFAULT_WAIT_IDLE_S:g}) until other processes use at most {BUSY_OTHER_CORES:g} cores")
    run.add_argument("--duration", type=duration_seconds, metavar="S",
                     help="measure every point for S seconds (overrides the suite; recorded in the manifest)")
    run.add_argument("--warmup", type=warmup_seconds, metavar="S",
                     help="warm up every point for S seconds first (overrides the suite)")
    run.add_argument("--points", metavar="PATTERN",
                     help="only the points whose id matches PATTERN, a glob (e.g. 'pingpong-*'; several "
                          "comma-separated)")
    run.add_argument("--dry-run", action="store_true", help="print the plan's size and estimated time, run nothing")
    add_host_options(run, "the servers")
    run.add_argument("--resume", metavar="DIR", help="run what an interrupted run has not recorded yet")
    run.set_defaults(parser=run)  # so that its errors print its own usage

    report = commands.add_parser("report", help="write report.html and report.md for a run",
                                 description="Writes DIR/report.html (self-contained, charts embedded) and "
                                             "DIR/report.md from a run folder.")
    report.add_argument("run_dir", metavar="DIR", help="a run folder")

    compare = commands.add_parser("compare", help="compare two runs; exit 1 on a significant regression",
                                  description="Per point and server: the ratio NEW/BASE of throughput and p99 "
                                              "with a 95%% confidence interval. Exit 1 if any is a significant "
                                              "regression beyond the threshold; exit 2, listing the "
                                              "differences, when the runs were not measured alike.")
    compare.add_argument("base", metavar="BASE", help="the run folder to compare against")
    compare.add_argument("new", metavar="NEW", help="the run folder under test")
    compare.add_argument("--threshold", type=percentage, default=DEFAULT_THRESHOLD, metavar="PCT",
                         help=f"smallest change that counts, in percent (default {DEFAULT_THRESHOLD:g})")
    compare.add_argument("--allow-different", action="store_true", help=ALLOW_DIFFERENT_HELP)
    compare.add_argument("--markdown", metavar="FILE", help="also write the comparison as Markdown (a pull-request "
                                                            "comment: verdict first, then the table)")
    compare.add_argument("--json", metavar="FILE", help="also write the comparison as JSON (schema "
                                                        "winsock-bench/compare/1)")
    add_sensitivity_option(compare)

    agree = commands.add_parser("agree", help="do two runs rank the servers alike? exit 1 on a contradiction",
                                description="For every ranking in both runs (each point's verdicts, each "
                                            "workload, overall; per metric): the pairs of servers both runs "
                                            "order alike, the ones they order oppositely (contradictions), and "
                                            "the ones only one run could tell apart. Exit 1 on any "
                                            "contradiction: run a suite twice to check a machine before "
                                            "trusting it.")
    agree.add_argument("run_a", metavar="RUN_A", help="a run folder")
    agree.add_argument("run_b", metavar="RUN_B", help="another run folder")

    ab = commands.add_parser("ab", help="build another revision's servers, run both interleaved, compare",
                             description="Builds the servers at GITREV in a temporary git worktree, runs the "
                                         "suite with that build (base) and the current build "
                                         "(build/mingw, build/native) interleaved in one run, then compares "
                                         "them. Exit 1 on a regression.")
    ab.add_argument("--base", required=True, metavar="GITREV", help="the revision to compare against")
    ab.add_argument("--suite", default="smoke", metavar="NAME", help="suite name or .toml path (default smoke)")
    ab.add_argument("--servers", metavar="A,B", help="comma-separated servers (default: the suite's)")
    ab.add_argument("--reps", type=positive_int, metavar="N",
                    help="repetitions (default: the suite's, at least 5: fewer give untrustworthy intervals)")
    ab.add_argument("--seed", type=seed_value, metavar="S", help="order seed (default 1)")
    ab.add_argument("--out", metavar="DIR", help="run folder (default results/runs/<time>-ab-<suite>)")
    add_placement_options(ab, with_hosts=True)
    ab.add_argument("--threshold", type=percentage, default=DEFAULT_THRESHOLD, metavar="PCT",
                    help=f"smallest change that counts, in percent (default {DEFAULT_THRESHOLD:g})")
    ab.add_argument("--allow-different", action="store_true", help=ALLOW_DIFFERENT_HELP)
    add_host_options(ab, "both builds' servers")
    add_sensitivity_option(ab)
    ab.set_defaults(parser=ab)

    sensitivity = commands.add_parser(
        "sensitivity", help="what a benchmark gate catches here: false alarms, smallest slowdown caught",
        description="Calibrates each server's throughput at the suite's points, then runs them again beside "
                    "a second unslowed copy of each and copies slowed by the calibration knob (--spin-us) by "
                    "each DELTA of the server's time per message, all in the same rounds; gates of the suite's "
                    "repetitions drawn from those rounds (paired as ab pairs them) then give the false-alarm "
                    "rate (A/A), the detection rate at each slowdown and the repetitions a target needs. "
                    "Writes OUT/sensitivity.json, which compare and ab take with --sensitivity.")
    sensitivity.add_argument("--suite", default="gate", metavar="NAME", help="suite name or .toml path (default gate)")
    sensitivity.add_argument("--servers", metavar="A,B", help="comma-separated servers (default: the suite's)")
    sensitivity.add_argument("--reps", type=positive_int, metavar="N",
                             help="rounds of the measurement (default: the suite's repetitions and half again, "
                                  "so that drawn gates differ); more than an earlier --out has adds the rest to it")
    sensitivity.add_argument("--deltas", type=deltas_value, metavar="D,D",
                             help="slowdowns to inject, in percent of the time per message (default 5,10,20)")
    sensitivity.add_argument("--threshold", type=percentage, default=DEFAULT_THRESHOLD, metavar="PCT",
                             help=f"the gate's threshold, in percent (default {DEFAULT_THRESHOLD:g})")
    sensitivity.add_argument("--seed", type=seed_value, metavar="S", help="order and resampling seed (default 1)")
    sensitivity.add_argument("--out", metavar="DIR",
                             help="folder for both runs and sensitivity.json (default results/runs/<time>-sensitivity); "
                                  "given again after an interruption, it goes on where it stopped")
    add_placement_options(sensitivity)
    sensitivity.set_defaults(parser=sensitivity, hosts=None)

    deploy = commands.add_parser("deploy", help="copy the built executables to the hosts of a hosts file, check them",
                                 description="Copies the built servers and loadgen to each host of the hosts file "
                                             "with scp (Windows executables to windows and wine hosts, native "
                                             "ones to linux hosts), then checks that every copy's --version is "
                                             "this build's. Exit 2 naming the first host that fails.")
    deploy.add_argument("--hosts", required=True, metavar="FILE", help="the hosts file (TOML; see harness/hosts.py)")
    deploy.add_argument("--only", metavar="A,B", help="these hosts only (default: every host of the file)")
    deploy.add_argument("--check", action="store_true", help="copy nothing: only check the copies already there")
    return parser


def add_host_options(command, servers_text):
    command.add_argument("--hosts", metavar="FILE", help="run on other hosts: the hosts file (TOML, see "
                                                         "harness/hosts.py)")
    command.add_argument("--server-host", metavar="NAME", help=f"with --hosts: the host that runs {servers_text} "
                                                               "(default: the file's [run] server)")
    command.add_argument("--client-hosts", metavar="A,B", help="with --hosts: the hosts that run the load, split "
                                                               "between them (default: the file's [run] clients)")


def parse_servers(text, suite, known):
    if not text:
        return list(suite.servers)
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UsageError(f"unknown server(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if not names or len(set(names)) != len(names):
        raise UsageError("--servers needs distinct server names, comma-separated")
    return names


def load_suite(name):
    """A suite; one that names no servers runs every model this machine runs."""
    from harness import models, platforms, suites
    try:
        return suites.load_suite(name, models.all_models(), platforms.current().models())
    except suites.SuiteError as error:
        raise UsageError(str(error)) from None


def apply_overrides(suite, overrides):
    from harness import suites
    try:
        return suites.with_overrides(suite, **overrides)
    except suites.SuiteError as error:
        raise UsageError(str(error)) from None


def command_list(_args):
    from harness import models, platforms, suites
    system = platforms.current()
    print("servers (servers/*/model.json):")
    for model in system.models():
        exe = system.server_executable(model)
        state = "built    " if exe.is_file() else "not built"
        print(f"  {model:<18} {'Wine  ' if system.runs_under_wine(model) else 'native'}  {models.family(model):<10}  "
              f"{state}  {exe}")
    for model in models.all_models():
        if system.skip_reason(model):
            print(f"  {model:<18} {system.skip_reason(model)} ({system.system})")
    print("\nworkloads:")
    for name in suites.WORKLOADS:
        print(f"  {name:<10} {WORKLOAD_DESCRIPTIONS[name]}")
    print("\nsuites (estimated time on the suite's servers):")
    from harness.run import format_duration
    width = max(map(len, suites.suite_names()), default=0)
    for name in suites.suite_names():
        try:
            suite = load_suite(name)
        except UsageError as error:
            print(f"  {name:<{width}} INVALID: {error}")
            continue
        estimate = format_duration(suite.estimate_seconds(suite.servers))
        reps = suite.repetitions
        reps_text = f"{reps.min}-{reps.max}" if reps.adaptive else str(reps.min)
        print(f"  {name:<{width}} {len(suite.points):>3} points, {len(suite.servers):>2} servers, {reps_text:>4} reps, "
              f"~{estimate:<7} {suite.description}")
    return 0


def add_placement_options(command, with_hosts=False):
    from harness.run.placement import DEFAULT_MODE, MODE_HELP, MODES
    modes = "; ".join(f"{mode}: {MODE_HELP[mode]}" for mode in MODES)
    on_hosts = (" With --hosts, on the server host (linux or wine; the load generators are not placed): "
                "colocated puts the server and its Wine processes on all its CPUs, split the server on all but "
                "the last and its Wine processes on the last, pinned the server as in split and Wine's "
                "processes free, free pins nothing; a windows server host is not placed (only free is "
                "accepted), and its records say why.") if with_hosts else ""
    command.add_argument("--placement", choices=MODES, metavar="MODE",
                         help=f"where the server, its Wine processes and the load generator run ({modes}; "
                              f"default {DEFAULT_MODE}, recorded in the manifest and each record).{on_hosts}")
    command.add_argument("--pin", action="store_true", help="the same as --placement pinned")


def placement_mode(args, parser):
    """The --placement mode of a run (--pin is the old name of `pinned`):
    on this machine, or on the server host with --hosts, where None leaves
    the choice to the host (colocated, or nothing on a windows host)."""
    from harness.run.placement import DEFAULT_MODE
    if args.pin and args.placement and args.placement != "pinned":
        parser.error(f"--pin and --placement {args.placement} contradict each other")
    chosen = "pinned" if args.pin else args.placement
    if args.hosts:
        return chosen
    return chosen or DEFAULT_MODE


def command_run(args, parser):
    from harness.run import DEFAULT_SEED, new_run, resume_run
    if args.resume:
        given = [f"--{n.replace('_', '-')}" for n in ("suite", "servers", "reps", "seed", "out", "wait_idle",
                                                       "duration", "warmup", "points")
                 if getattr(args, n) is not None]
        given += [f"--{n.replace('_', '-')}" for n in ("hosts", "server_host", "client_hosts")
                  if getattr(args, n) is not None]
        given += ["--pin"] * args.pin + ["--placement"] * bool(args.placement) + ["--dry-run"] * args.dry_run
        if given:
            parser.error(f"--resume takes no other option (the run folder has them): {', '.join(given)}")
        code, _ = resume_run(args.resume)
        return code
    if not args.suite:
        parser.error("--suite NAME (smoke, default, full or a .toml path) or --resume DIR is required")
    from harness import models
    suite = load_suite(args.suite)
    overrides = {name: getattr(args, name) for name in ("duration", "warmup", "points")
                 if getattr(args, name) is not None}
    suite = apply_overrides(suite, overrides)
    servers = parse_servers(args.servers, suite, models.all_models())
    topology = choose_topology(args, parser)
    if topology:
        servers = servers_for_host(servers, topology, explicit=bool(args.servers))
    seed = DEFAULT_SEED if args.seed is None else args.seed
    if args.dry_run:
        return dry_run(suite, servers, args.reps)
    code, _ = new_run(suite, servers, out=args.out, reps=args.reps, seed=seed,
                      placement=placement_mode(args, parser),
                      wait_idle_s=args.wait_idle, overrides=overrides, topology=topology)
    return code


def choose_topology(args, parser):
    """The hosts of a run on other hosts (--hosts), or None for this machine."""
    if not args.hosts:
        if args.server_host or args.client_hosts:
            parser.error("--server-host and --client-hosts go with --hosts FILE")
        return None
    from harness import hosts
    from harness.run.remote import Topology
    try:
        hosts_file = hosts.load_hosts(args.hosts)
    except hosts.HostsError as error:
        raise UsageError(str(error)) from None
    clients = [name.strip() for name in args.client_hosts.split(",") if name.strip()] if args.client_hosts else None
    return Topology.choose(hosts_file, args.server_host, clients)


def servers_for_host(servers, topology, explicit):
    """The servers the server host's platform runs: the others are refused when
    named (--servers), and left out of the suite's default list otherwise."""
    from harness.run.remote import RemoteServers
    runnable = RemoteServers(topology).names
    if explicit and set(servers) - set(runnable):
        raise UsageError(f"server host {topology.server.name} ({topology.server.platform}) cannot run "
                         f"{', '.join(s for s in servers if s not in runnable)}")
    chosen = [server for server in servers if server in runnable]
    if not chosen:
        raise UsageError(f"none of the suite's servers runs on {topology.server.name} ({topology.server.platform})")
    return chosen


def dry_run(suite, servers, reps):
    from harness.run import BuiltServers, plan_summary
    from harness.run.execute import runnable_cells
    from harness.suites import Repetitions
    print(plan_summary(suite, servers, Repetitions.fixed(reps) if reps else suite.repetitions))
    _, skipped, runnable = runnable_cells(suite, servers, BuiltServers())
    print(f"  servers: {', '.join(runnable)}")
    for entry in skipped:
        print(f"  skipped {entry['server']} {entry['point']}: {entry['reason']}")
    return 0


def command_report(args):
    run_dir = Path(args.run_dir)
    from harness import report
    try:
        html_path, md_path = report.write_report(run_dir)
    except ValueError as error:
        raise UsageError(str(error)) from None
    print(html_path)
    print(md_path)
    return 0


def command_compare(args):
    from harness import compare
    caveat = sensitivity_caveat(args.sensitivity)
    code = compare.main(args.base, args.new, args.threshold, allow_different=args.allow_different,
                        exports={"markdown": args.markdown, "json": args.json})
    if caveat and code in (0, 1):
        print(caveat)
    return code


def add_sensitivity_option(command):
    command.add_argument("--sensitivity", metavar="FILE",
                         help="a sensitivity.json of this machine (python3 -m harness sensitivity): the verdict then "
                              "says what slowdown would likely go unseen")


def sensitivity_caveat(path):
    """The line a sensitivity file adds to a verdict (read before any work), or None."""
    if not path:
        return None
    from harness import sensitivity
    try:
        return "note: " + sensitivity.caveat(sensitivity.read(path))
    except sensitivity.SensitivityError as error:
        raise UsageError(str(error)) from None


def deltas_value(text):
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of percentages") from None
    if not values or not all(0 < value < 100 for value in values) or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"'{text}': each slowdown must be a distinct percentage between 0 and 100")
    return tuple(sorted(value / 100 for value in values))


def command_sensitivity(args):
    from harness import models, sensitivity
    from harness.run import DEFAULT_SEED
    from harness.run.execute import RUNS_DIR
    suite = load_suite(args.suite)
    servers = parse_servers(args.servers, suite, models.all_models())
    out = Path(args.out) if args.out else RUNS_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-sensitivity"
    return sensitivity.main(suite, servers, out, reps=args.reps,
                            deltas=args.deltas or sensitivity.DEFAULT_DELTAS, threshold_pct=args.threshold,
                            seed=DEFAULT_SEED if args.seed is None else args.seed,
                            placement=placement_mode(args, args.parser))


def command_agree(args):
    from harness import agree
    return agree.main(args.run_a, args.run_b)


def command_deploy(args):
    from harness import deploy, hosts
    try:
        hosts_file = hosts.load_hosts(args.hosts)
    except hosts.HostsError as error:
        raise UsageError(str(error)) from None
    names = [name.strip() for name in args.only.split(",") if name.strip()] if args.only else None
    return deploy.main(hosts_file, names, check_only=args.check)


def command_ab(args):
    from harness import ab
    from harness import models
    suite = load_suite(args.suite)
    servers = parse_servers(args.servers, suite, models.all_models())
    topology = choose_topology(args, args.parser)
    if topology:
        servers = servers_for_host(servers, topology, explicit=bool(args.servers))
    seed = ab.runner.DEFAULT_SEED if args.seed is None else args.seed
    caveat = sensitivity_caveat(args.sensitivity)
    code = ab.run_ab(args.base, suite, servers, out=args.out, reps=args.reps, seed=seed,
                     placement=placement_mode(args, args.parser),
                     threshold=args.threshold, allow_different=args.allow_different, topology=topology)
    if caveat and code in (0, 1):
        print(caveat)
    return code


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        # A bare command must not start a quarter-hour benchmark: say what there is.
        parser.print_help(sys.stderr)
        return 2
    from harness.models import RegistryError
    from harness.platforms import PlatformError
    from harness.run import RunError
    # A CI job being cancelled sends SIGTERM: stop like Ctrl-C, so the server
    # of the current item is stopped and the records written so far stay.
    signal.signal(signal.SIGTERM, interrupt)
    try:
        if args.command == "list":
            return command_list(args)
        if args.command == "run":
            return command_run(args, args.parser)
        if args.command == "report":
            return command_report(args)
        if args.command == "compare":
            return command_compare(args)
        if args.command == "agree":
            return command_agree(args)
        if args.command == "deploy":
            return command_deploy(args)
        if args.command == "sensitivity":
            return command_sensitivity(args)
        return command_ab(args)
    except (UsageError, RunError, RegistryError, PlatformError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def interrupt(_signum, _frame):
    raise KeyboardInterrupt


def main_with_closed_pipe_handled():
    """main(), but a reader that stops early (`harness list | head`) is not an error worth a
    traceback: the output it wanted was written; the rest goes nowhere."""
    try:
        code = main()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at /dev/null so that flush cannot fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a process ended by SIGPIPE


if __name__ == "__main__":
    sys.exit(main_with_closed_pipe_handled())
