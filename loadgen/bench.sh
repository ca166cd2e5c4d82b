#!/bin/sh
# loadgen's own benchmark, against the Linux reference echo server, with
# sockperf side by side in the same run. Prints figures; asserts nothing.
# See --help.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)

usage() {
    cat <<'EOF'
usage: loadgen/bench.sh [SECONDS]
Benchmarks loadgen against the reference echo server (reference-epoll), with the
server and the client pinned to different cores (taskset), and prints:
  - messages/s, p50, p99, client and server CPU for 64-byte pingpong on 1 and 64
    connections and a depth-16 pipeline on 1 connection;
  - sockperf's own server and ping-pong client (TCP, 64 bytes, full round trip)
    in the same run, and our 1-connection p50 against sockperf's (goal: within 1.15x);
  - the cost of verification: --no-verify against the default in the throughput
    modes, each run twice, interleaved, the better of two kept (other load on the
    machine only ever slows a run down).
SECONDS   measured seconds per run, 1-30 (default 6; each of our runs adds a
          1 s warm-up; the whole bench takes about 10 x (SECONDS + 1) seconds).
Environment: LOADGEN=path, SERVER=path override build/native's binaries.
Installs sockperf with apt-get when it is missing (needs root).
Exit: 0 figures printed, 1 a run failed, 2 bad usage or missing build.
EOF
}

case ${1:-} in
-h | --help) usage; exit 0 ;;
esac
[ $# -le 1 ] || { echo "bench.sh: at most one argument, SECONDS (see --help)" >&2; exit 2; }
seconds=${1:-6}
case $seconds in
'' | *[!0-9]*) echo "bench.sh: SECONDS must be a whole number, got '$seconds' (see --help)" >&2; exit 2 ;;
esac
[ "$seconds" -ge 1 ] && [ "$seconds" -le 30 ] || { echo "bench.sh: SECONDS must be 1-30, got $seconds" >&2; exit 2; }

loadgen=${LOADGEN:-$root/build/native/loadgen/loadgen}
server=${SERVER:-$root/build/native/servers/reference-epoll/reference-epoll}
for exe in "$loadgen" "$server"; do
    [ -x "$exe" ] || { echo "bench.sh: $exe is not built (cmake --preset native && cmake --build --preset native)" >&2; exit 2; }
done
if ! command -v sockperf >/dev/null 2>&1; then
    echo "bench.sh: installing sockperf (apt-get install sockperf)" >&2
    apt-get install -y sockperf >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y sockperf >/dev/null 2>&1; } ||
        { echo "bench.sh: cannot install sockperf (apt-get install sockperf, as root)" >&2; exit 2; }
fi
command -v taskset >/dev/null 2>&1 || { echo "bench.sh: taskset is missing (apt-get install util-linux)" >&2; exit 2; }

# The rest is easier in Python (standard library only): servers to start and
# stop around each run, JSON and sockperf's text to read.
exec /usr/bin/python3 - "$loadgen" "$server" "$seconds" <<'PY'
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

LOADGEN, SERVER, SECONDS = sys.argv[1], sys.argv[2], int(sys.argv[3])
WARMUP = 1
RUN_TIMEOUT = SECONDS + WARMUP + 30

# Server and client on different cores, when there are two; recorded below.
CPUS = sorted(os.sched_getaffinity(0))
SERVER_CPU, CLIENT_CPU = (str(CPUS[0]), str(CPUS[1])) if len(CPUS) >= 2 else (None, None)


def pinned(cpu, argv):
    return ["taskset", "-c", cpu] + argv if cpu is not None else argv


def fail(message):
    print(f"bench.sh: {message}", file=sys.stderr)
    sys.exit(1)


def read_event(process, event, deadline):
    """The server's JSON line for `event` (ready, stats), within the deadline."""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("event") == event:
            return record
    fail(f"the reference server gave no {event} line")


def ours(args):
    """One loadgen run against a fresh reference server; the server's stats
    line (at its stop) gives its CPU time for exactly this run."""
    server = subprocess.Popen(pinned(SERVER_CPU, [SERVER, "--port", "0"]), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = read_event(server, "ready", time.monotonic() + 10)["port"]
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            run = subprocess.run(pinned(CLIENT_CPU, [LOADGEN, "--port", str(port), "--duration", str(SECONDS),
                                                     "--warmup", str(WARMUP), "--json", out.name] + args),
                                 stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=RUN_TIMEOUT)
            if run.returncode != 0:
                fail(f"loadgen {' '.join(args)} exited with {run.returncode}: {run.stderr.strip()[-300:]}")
            doc = json.load(open(out.name))
        server.stdin.close()
        stats = read_event(server, "stats", time.monotonic() + 10)
        server.wait(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    return {"msgs": doc["messages_per_s"], "p50": doc["latency_us"]["p50"], "p99": doc["latency_us"]["p99"],
            "client_cpu": doc["client_cpu_s"]["user"] + doc["client_cpu_s"]["system"],
            "client_user": doc["client_cpu_s"]["user"], "server_user": stats["cpu_user_s"],
            "server_cpu": stats["cpu_user_s"] + stats["cpu_kernel_s"], "errors": sum(doc["errors"].values()),
            # Every message of the run, warm-up included, as the CPU times are.
            "all_messages": stats["bytes_received"] / doc["config"]["size"]}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def sockperf():
    """sockperf's own server and ping-pong client: TCP, 64-byte messages,
    full round-trip times (its default reports half of them)."""
    port = str(free_port())
    log = tempfile.TemporaryFile(mode="w+")
    server = subprocess.Popen(pinned(SERVER_CPU, ["sockperf", "server", "--tcp", "-i", "127.0.0.1", "-p", port]),
                              stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # its "using ..." line comes once it listens
            log.seek(0)
            if "using" in log.read():
                break
            time.sleep(0.05)
        run = subprocess.run(pinned(CLIENT_CPU, ["sockperf", "ping-pong", "--tcp", "-i", "127.0.0.1", "-p", port,
                                                 "-m", "64", "-t", str(SECONDS), "--full-rtt"]),
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    finally:
        server.terminate()
        server.wait(timeout=10)
    text = ANSI.sub("", run.stdout + run.stderr)

    def figure(pattern):
        found = re.search(pattern, text)
        if not found:
            fail(f"sockperf's output has no {pattern!r}:\n{text[-1500:]}")
        return found.groups()

    runtime, received = figure(r"\[Valid Duration\] RunTime=([\d.]+) sec; SentMessages=\d+; ReceivedMessages=(\d+)")
    return {"msgs": int(received) / float(runtime), "p50": float(figure(r"percentile 50\.000 =\s*([\d.]+)")[0]),
            "p99": float(figure(r"percentile 99\.000 =\s*([\d.]+)")[0])}


ROW = "{:<38} {:>10} {:>9} {:>9} {:>10} {:>10} {:>7}"


def row(label, r):
    cpu = ("-", "-") if "client_cpu" not in r else (f"{r['client_cpu']:.2f}", f"{r['server_cpu']:.2f}")
    print(ROW.format(label, f"{r['msgs']:.0f}", f"{r['p50']:.1f}", f"{r['p99']:.1f}", *cpu, r.get("errors", "-")),
          flush=True)


pinning = f"server on CPU {SERVER_CPU}, client on CPU {CLIENT_CPU} (taskset -c)" if SERVER_CPU else "none (one CPU)"
print(f"loadgen bench: {SECONDS} s measured per run ({WARMUP} s warm-up for ours), 64-byte messages")
print(f"pinning: {pinning}")
print(f"loadgen: {LOADGEN}\nserver:  {SERVER}; sockperf: its own server and ping-pong client, TCP, --full-rtt")
print(ROW.format("run", "msg/s", "p50_us", "p99_us", "client_cpu", "server_cpu", "errors"))

PINGPONG_64 = ["--workload", "pingpong", "--connections", "64"]
PIPELINE = ["--workload", "pipeline", "--connections", "1", "--depth", "16"]
results = {}
for label, run in [
    ("sockperf ping-pong, 1 connection", sockperf),
    ("pingpong, 1 connection", lambda: ours(["--workload", "pingpong", "--connections", "1"])),
    ("pingpong, 64 connections", lambda: ours(PINGPONG_64)),
    ("pipeline depth 16, 1 connection", lambda: ours(PIPELINE)),
    ("pingpong, 64 conn, --no-verify", lambda: ours(PINGPONG_64 + ["--no-verify"])),
    ("pipeline depth 16, --no-verify", lambda: ours(PIPELINE + ["--no-verify"])),
    ("pingpong, 64 connections (2nd)", lambda: ours(PINGPONG_64)),
    ("pingpong, 64 conn, --no-verify (2nd)", lambda: ours(PINGPONG_64 + ["--no-verify"])),
    ("pipeline depth 16, 1 connection (2nd)", lambda: ours(PIPELINE)),
    ("pipeline depth 16, --no-verify (2nd)", lambda: ours(PIPELINE + ["--no-verify"])),
]:
    results[label] = run()
    row(label, results[label])

print()
ratio = results["pingpong, 1 connection"]["p50"] / results["sockperf ping-pong, 1 connection"]["p50"]
print(f"1-connection p50: ours {results['pingpong, 1 connection']['p50']:.1f} us, "
      f"sockperf {results['sockperf ping-pong, 1 connection']['p50']:.1f} us, ratio {ratio:.3f} "
      f"({'within' if ratio <= 1.15 else 'NOT within'} 1.15x)")
# CPU: both sides make the same system calls per message on loopback, so
# the kernel's share is alike; the user-space share is each side's own work.
for label in ["pingpong, 64 connections", "pipeline depth 16, 1 connection"]:
    r = results[label]
    verdict = "client below server" if r["client_cpu"] < r["server_cpu"] else "client NOT below server"
    print(f"{label}: CPU client {r['client_cpu']:.2f} s, server {r['server_cpu']:.2f} s ({verdict}); "
          f"of which user space: client {r['client_user']:.2f} s, server {r['server_user']:.2f} s")


def per_message_us(label):
    """The client's CPU time per message, the better of the label's two runs.
    Throughput on a shared machine moves with everything else running; this
    is steadier evidence of what verification costs."""
    return min(r["client_cpu"] / r["all_messages"] * 1e6 for r in (results[label], results[label + " (2nd)"]))


for verified, unverified in [("pingpong, 64 connections", "pingpong, 64 conn, --no-verify"),
                             ("pipeline depth 16, 1 connection", "pipeline depth 16, --no-verify")]:
    with_check = max(results[verified]["msgs"], results[verified + " (2nd)"]["msgs"])
    without = max(results[unverified]["msgs"], results[unverified + " (2nd)"]["msgs"])
    cost = (without - with_check) / without * 100 if without else 0.0
    print(f"verification cost, {verified}: best {with_check:.0f} msg/s verified, {without:.0f} unverified: "
          f"{cost:+.1f}% ({'under' if cost < 10 else 'NOT under'} 10%)")
    cpu_with, cpu_without = per_message_us(verified), per_message_us(unverified)
    print(f"  client CPU per message: {cpu_with:.2f} us verified, {cpu_without:.2f} us unverified "
          f"({(cpu_with - cpu_without) / cpu_without * 100:+.1f}%)")
PY
