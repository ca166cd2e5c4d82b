"""winsock-bench orchestrator: python3 -m harness --help"""
import argparse
import sys

from harness import quick


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m harness",
                                     description="Runs winsock-bench benchmarks against the echo servers.")
    commands = parser.add_subparsers(dest="command")
    q = commands.add_parser("quick", help="64-byte ping-pong on one connection against each server (default)")
    q.add_argument("--servers", help="comma-separated models (default: all seven)")
    q.add_argument("--seconds", type=float, default=3.0, help="measured seconds per server (default 3)")
    q.add_argument("--max-messages", type=int, default=200_000, help="round trips at most per server")
    q.add_argument("--out", help="results folder (default results/runs/<time>-quick)")
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["quick"] + argv  # the default benchmark
    args = parser.parse_args(argv)
    if args.command == "quick":
        if not 0 < args.seconds <= 600 or args.max_messages < 1:
            parser.error("--seconds must be in (0, 600] and --max-messages at least 1")
        if args.servers:
            from harness.servers import ALL_MODELS
            unknown = set(args.servers.split(",")) - set(ALL_MODELS)
            if unknown:
                parser.error(f"unknown server(s): {', '.join(sorted(unknown))}; known: {', '.join(ALL_MODELS)}")
        return quick.run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
