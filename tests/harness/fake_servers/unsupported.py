"""A server whose model this platform lacks, as rio under Wine: one line on
stderr, exit code 3 (harness.servers.EXIT_UNSUPPORTED), no ready line."""
import sys

print("unsupported: Registered I/O (RIO) is not available on this platform (fake)", file=sys.stderr, flush=True)
sys.exit(3)
