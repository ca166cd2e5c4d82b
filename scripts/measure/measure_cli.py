"""What the measurement scripts of this folder share: the project's harness
on the import path, a command line that answers --help and --version and
refuses a bad option in one line before any work (as every script of the
project does), and the pieces every measurement needs: which Winsock builds
to run, the load generator, one-line failures."""
import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the scripts run from anywhere, the harness is at the top of the tree
    sys.path.insert(0, str(ROOT))

from harness import loadgen as loadgen_module, models  # noqa: E402  (needs the path above)
from harness.version import version_line  # noqa: E402


class MeasureError(Exception):
    """A measurement that cannot go on: the script exits 1 with this one line."""


class UsageError(ValueError):
    """Bad input found after parsing: the parser reports it (one line, exit 2)."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad option costs one line on stderr and exit 2, like the
    project's shell scripts (tests/scripts)."""

    def error(self, message):
        self.exit(2, f"{Path(self.prog).name}: {message} (see --help)\n")


class VersionAction(argparse.Action):
    """--version: the script's name, the project's version and the git commit."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_line(Path(parser.prog).name))
        parser.exit(0)


def make_parser(script_file, description, epilog=None):
    """The parser of scripts/measure/<script_file>, with --version."""
    parser = OneLineParser(prog=f"scripts/measure/{Path(script_file).name}", description=description,
                           epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=VersionAction, help="print the version and git commit, and exit")
    return parser


def _bounded(parse, kind, low, high, span):
    """An argparse type: parse(text), refused with "is not <kind>" when it fails
    and with "is not in <span>" outside [low, high]."""
    def convert(text):
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not in {span}")
        return value
    return convert


def bounded_int(low, high):
    """An argparse type: a whole number in [low, high]."""
    return _bounded(int, "a whole number", low, high, f"{low}..{high}")


def bounded_float(low, high):
    """An argparse type: a number in [low, high]."""
    return _bounded(float, "a number", low, high, f"[{low:g}, {high:g}]")


def int_list(low, high):
    """An argparse type: comma-separated whole numbers, each in [low, high]."""
    each = bounded_int(low, high)

    def convert(text):
        values = [each(part.strip()) for part in text.split(",") if part.strip()]
        if not values:
            raise argparse.ArgumentTypeError(f"{text!r} lists no number")
        return values
    return convert


def add_build_options(parser):
    """--servers-dir and --loadgen: which builds a measurement runs."""
    parser.add_argument("--servers-dir", metavar="DIR",
                        help="the Winsock servers' build folder (default: WSB_MINGW_DIR, else build/mingw/servers)")
    parser.add_argument("--loadgen", metavar="PATH",
                        help="the load generator (default: WSB_LOADGEN, else build/native/loadgen/loadgen)")


def find_loadgen(path):
    """The load generator to use, or MeasureError saying how to build it."""
    if path:
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise MeasureError(f"--loadgen {path}: not an executable file")
        return Path(path)
    try:
        return loadgen_module.find_loadgen()
    except loadgen_module.LoadgenNotFound as missing:
        raise MeasureError(str(missing)) from None


def table_stream(json_target):
    """Where the human-readable table goes: stdout, unless the JSON goes there."""
    return sys.stderr if json_target == "-" else sys.stdout


def write_json(target, document):
    """The results as one JSON document, to a file or (-) to stdout."""
    text = json.dumps(document, indent=1) + "\n"
    if target == "-":
        sys.stdout.write(text)
    else:
        Path(target).write_text(text, encoding="utf-8")


def run_main(main):
    """Runs main() -> exit code; a MeasureError is one line and exit 1, Ctrl-C exit 130."""
    try:
        sys.exit(main())
    except (MeasureError, models.RegistryError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
