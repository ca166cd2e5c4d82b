#!/usr/bin/python3
"""A stand-in load generator for the runner's tests: takes the real one's
command line, exchanges one message with the server (so the port must be
right), and writes a loadgen/1 JSON document whose figures the test chose,
at once (no load, no waiting).

WSB_FAKE_LOADGEN is a JSON object:
    "state":     a file counting the runs (their seeds: every run differs, every test repeats)
    "spread":    {"<connections>": s}: throughput and p99 vary uniformly by +-s around
                 1000 msg/s and 100 us at that point (default 0: the same every run)
    "cpu_share": {"<threads>": c}: the CPU it reports, as a share of one core per thread
                 (default 0.3)
    "log":       a file to append "<connections> <threads>" to, one line per run
    "hang_from": runs from this one on (0-based, needs "state") sleep 60 s after their
                 echo (having written their pid to "<state>.hung"), then fail: a load
                 generator still running when the harness is killed
    "histogram_buckets": this many histogram buckets (default 0): a bigger record"""
import argparse
import json
import os
import random
import socket
import sys
import time
from pathlib import Path


def parse_args():
    parser = argparse.ArgumentParser()
    for option in ("host", "workload", "json"):
        parser.add_argument(f"--{option}")
    for option in ("port", "connections", "threads", "depth", "concurrency", "idle", "size"):
        parser.add_argument(f"--{option}", type=int, default=1)
    for option in ("duration", "warmup", "rate"):
        parser.add_argument(f"--{option}", type=float, default=0.0)
    args, _ = parser.parse_known_args()
    return args


def next_seed(state):
    count = int(open(state).read() or 0) if os.path.exists(state) else 0
    with open(state, "w") as out:
        out.write(str(count + 1))
    return count


def echo_once(host, port):
    with socket.create_connection((host, port), timeout=5) as connection:
        connection.sendall(b"fake-msg")
        received = b""
        while len(received) < 8:
            chunk = connection.recv(8 - len(received))
            if not chunk:
                sys.exit("fake loadgen: the server closed without echoing")
            received += chunk


def main():
    args = parse_args()
    settings = json.loads(os.environ.get("WSB_FAKE_LOADGEN", "{}"))
    echo_once(args.host, args.port)
    seed = next_seed(settings["state"]) if "state" in settings else 0
    if "hang_from" in settings and seed >= settings["hang_from"]:
        # Said once the echo is done, so that a test kills the harness only
        # when this is sure to outlive it (before, a server that stopped at
        # its stdin's end could still fail the echo and end this at once).
        Path(f"{settings['state']}.hung").write_text(str(os.getpid()))
        time.sleep(60)
        sys.exit("fake loadgen: hung for 60 s")
    rng = random.Random(seed)
    spread = settings.get("spread", {}).get(str(args.connections), 0.0)
    share = settings.get("cpu_share", {}).get(str(args.threads), 0.3)
    if "log" in settings:
        with open(settings["log"], "a") as log:
            log.write(f"{args.connections} {args.threads}\n")
    duration = args.duration or 1.0
    throughput = 1000.0 * (1 + spread * rng.uniform(-1, 1))
    p99 = 100.0 * (1 + spread * rng.uniform(-1, 1))
    busy = share * (args.warmup + duration) * args.threads
    document = {
        "schema": "winsock-bench/loadgen/1",
        "config": {"host": args.host, "port": args.port, "workload": args.workload, "connections": args.connections,
                   "threads": args.threads, "warmup_s": args.warmup, "duration_s": duration},
        "totals": {"messages": round(throughput * duration), "bytes": 0, "duration_s": duration},
        "messages_per_s": throughput,
        "latency_us": {"p50": p99 / 2, "p99": p99, "max": p99 * 2, "count": round(throughput * duration)},
        "histogram": [[i * 1000, i * 1000 + 999, 1] for i in range(settings.get("histogram_buckets", 0))],
        "client_cpu_s": {"user": round(busy / 2, 6), "system": round(busy / 2, 6)},
        "errors": {"mismatch": 0, "early_close": 0, "reset": 0, "connect_failed": 0, "timeout": 0},
        "ended_early": False, "fatal": None, "exit_code": 0,
    }
    print(json.dumps(document))


if __name__ == "__main__":
    main()
