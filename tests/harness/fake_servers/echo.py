"""A stand-in echo server for the harness's tests: speaks the servers'
contract (ready line, echo, stop at end of stdin or on Ctrl-C, stats line)
in plain Python. --ignore-stop makes it a server that never stops by itself
(the runner must kill it); --ignore-stdin one that only Ctrl-C stops. It exits by itself after --lifetime seconds.
--flood-mb N writes N MiB of log lines to stdout and as much to stderr while
it serves, and one 1 MiB stdout line without an end, as fast as the pipes take them.
--killed-after-stats ends it by SIGKILL right after its stats line, as something
outside the harness could (the wineserver kills a process whose threads have
all ended when it has not exited within half a second). --crash-after-stats
writes Wine's crash line on stderr and exits 0, as a program that crashes
under Wine can once Wine's debugger has written its backtrace."""
import argparse
import json
import os
import selectors
import signal
import socket
import sys
import threading
import time


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ignore-stop", action="store_true", help="ignore end of stdin and SIGINT")
    parser.add_argument("--ignore-stdin", action="store_true", help="ignore end of stdin (SIGINT still stops)")
    parser.add_argument("--lifetime", type=float, default=120.0, help="exit after this many seconds")
    parser.add_argument("--flood-mb", type=int, default=0, help="MiB of output to flood stdout and stderr with")
    parser.add_argument("--killed-after-stats", action="store_true", help="SIGKILL itself after the stats line")
    parser.add_argument("--crash-after-stats", action="store_true", help="Wine's crash line on stderr, then exit 0")
    return parser.parse_args()


STDOUT_LOCK = threading.Lock()  # whole lines only: the flood must not split the contract's lines


def say(document):
    with STDOUT_LOCK:
        sys.stdout.write(json.dumps(document) + "\n")
        sys.stdout.flush()


def flood(megabytes):
    """Bounded: megabytes MiB on each stream, then it stops."""
    line = json.dumps({"event": "log", "text": "x" * 1000}) + "\n"
    with STDOUT_LOCK:
        sys.stdout.write(json.dumps({"event": "log", "text": "y" * (1 << 20)}) + "\n")  # far over any sane length
    for _ in range(megabytes * 1024):
        with STDOUT_LOCK:
            sys.stdout.write(line)
        sys.stderr.write("stderr flood " + "z" * 1010 + "\n")
    sys.stdout.flush()


def watch_stdin(stop):
    """End of standard input is the polite stop, as for the real servers."""
    while sys.stdin.buffer.read(4096):
        pass
    stop.set()


class Echo:
    def __init__(self, listener):
        self.selector = selectors.DefaultSelector()
        self.listener = listener
        self.selector.register(listener, selectors.EVENT_READ)
        self.pending = {}
        self.closing = set()
        self.counts = {"accepted": 0, "received": 0, "sent": 0, "peak": 0}

    def step(self, timeout):
        for key, events in self.selector.select(timeout):
            if key.fileobj is self.listener:
                self.accept()
                continue
            if events & selectors.EVENT_READ:
                self.receive(key.fileobj)
            if key.fileobj in self.pending and events & selectors.EVENT_WRITE:
                self.send(key.fileobj)

    def accept(self):
        try:
            connection, _ = self.listener.accept()
        except BlockingIOError:
            return
        connection.setblocking(False)
        self.pending[connection] = bytearray()
        self.selector.register(connection, selectors.EVENT_READ)
        self.counts["accepted"] += 1
        self.counts["peak"] = max(self.counts["peak"], len(self.pending))

    def receive(self, connection):
        try:
            data = connection.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.closing.add(connection)
        else:
            self.counts["received"] += len(data)
            self.pending[connection] += data
        self.send(connection)

    def send(self, connection):
        buffer = self.pending[connection]
        try:
            sent = connection.send(buffer) if buffer else 0
        except BlockingIOError:
            sent = 0
        except OSError:
            self.close(connection)
            return
        del buffer[:sent]
        self.counts["sent"] += sent
        if not buffer and connection in self.closing:
            self.close(connection)
            return
        wanted = selectors.EVENT_READ | (selectors.EVENT_WRITE if buffer else 0)
        if connection in self.closing:
            wanted = selectors.EVENT_WRITE
        self.selector.modify(connection, wanted)

    def close(self, connection):
        self.selector.unregister(connection)
        self.pending.pop(connection, None)
        self.closing.discard(connection)
        connection.close()

    def close_all(self):
        for connection in list(self.pending):
            self.close(connection)


def main():
    args = parse_args()
    started = time.monotonic()
    stop = threading.Event()
    if args.ignore_stop:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        if not args.ignore_stdin:
            threading.Thread(target=watch_stdin, args=(stop,), daemon=True).start()
    listener = socket.create_server(("127.0.0.1", args.port))
    listener.setblocking(False)
    say({"event": "ready", "model": "fake-echo", "port": listener.getsockname()[1], "pid": os.getpid()})
    if args.flood_mb:
        threading.Thread(target=flood, args=(args.flood_mb,), daemon=True).start()
    echo = Echo(listener)
    while not stop.is_set() and time.monotonic() - started < args.lifetime:
        echo.step(0.05)
    echo.close_all()
    times = os.times()
    say({"event": "stats", "model": "fake-echo", "connections_accepted": echo.counts["accepted"],
                      "connections_refused": 0, "peak_connections": echo.counts["peak"],
                      "bytes_received": echo.counts["received"], "bytes_sent": echo.counts["sent"],
                      "errors": {"accept": 0, "recv": 0, "send": 0, "reset": 0, "resource": 0},
                      "cpu_user_s": times.user, "cpu_kernel_s": times.system,
                      "peak_working_set_bytes": 0, "peak_threads": 2,
                      "run_time_s": round(time.monotonic() - started, 3)})
    if args.killed_after_stats:
        os.kill(os.getpid(), signal.SIGKILL)
    if args.crash_after_stats:
        sys.stderr.write("wine: Unhandled page fault on write access to 0000000000000000 at address "
                         "00000001400015C6 (thread 0024), starting debugger...\n")
        sys.stderr.flush()
        time.sleep(0.3)  # Wine's debugger writes its backtrace, then ends the program


if __name__ == "__main__":
    main()
