"""A server that fails at start, as a real one does when it cannot listen:
one line on stderr, exit code 1, no ready line."""
import sys

print("crash: cannot listen on 127.0.0.1: address already in use (fake)", file=sys.stderr, flush=True)
sys.exit(1)
