"""A server that hangs before it listens: says so on stderr and never prints
its ready line (the runner must give up and kill it). Bounded: it exits by
itself after two minutes."""
import sys
import time

print("never-ready: stuck before listening (fake)", file=sys.stderr, flush=True)
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    time.sleep(0.5)
