"""The quick benchmark: 64-byte ping-pong on one connection against every
server, one after the other, in a Python client. A stopgap until the C load
generator (loadgen/) exists: the client's own cost (~10-20 us per round trip)
is included in every figure, the same for every server."""
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness.servers import ROOT, ServerError, EchoServer, selected_models

MESSAGE_SIZE = 64


def ping_pong(port, seconds, max_messages, warmup=200):
    """Round trips in microseconds; bounded by time and by count."""
    payload = os.urandom(MESSAGE_SIZE)
    rtts = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        deadline = None
        for i in range(warmup + max_messages):
            if i == warmup:
                deadline = time.monotonic() + seconds
            elif deadline is not None and time.monotonic() > deadline:
                break
            start = time.perf_counter_ns()
            sock.sendall(payload)
            got = b""
            while len(got) < MESSAGE_SIZE:
                chunk = sock.recv(MESSAGE_SIZE - len(got))
                if not chunk:
                    raise ConnectionError("server closed the connection")
                got += chunk
            if got != payload:
                raise ValueError("echo differs from what was sent")
            if deadline is not None:
                rtts.append((time.perf_counter_ns() - start) / 1000)
    return rtts


def percentile(sorted_values, fraction):
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def measure(model, seconds, max_messages):
    server = EchoServer(model).start()
    try:
        rtts = sorted(ping_pong(server.port, seconds, max_messages))
    finally:
        stats = server.stop()
    return {
        "model": model,
        "platform": "linux-native" if model == "reference-epoll" else "wine",
        "messages": len(rtts),
        "mean_rtt_us": statistics.fmean(rtts),
        "p50_rtt_us": percentile(rtts, 0.50),
        "p99_rtt_us": percentile(rtts, 0.99),
        "max_rtt_us": rtts[-1],
        "server_cpu_s": stats["cpu_user_s"] + stats["cpu_kernel_s"],
        "server_stats": stats,
    }


def wine_version():
    try:
        return subprocess.run([str(ROOT / "scripts" / "wine-run"), "--version"], capture_output=True,
                              text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def run(args):
    models = args.servers.split(",") if args.servers else selected_models()
    out = Path(args.out) if args.out else ROOT / "results" / "runs" / time.strftime("%Y%m%d-%H%M%S-quick")
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"suite": "quick", "message_size": MESSAGE_SIZE, "seconds_per_server": args.seconds,
                "os": platform.platform(), "cpu_count": os.cpu_count(), "wine": wine_version(),
                "client": f"python {platform.python_version()}"}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    results, failed = [], []
    for index, model in enumerate(models, 1):
        print(f"[{index}/{len(models)}] {model}: {args.seconds:g} s of 64-byte ping-pong", file=sys.stderr)
        try:
            result = measure(model, args.seconds, args.max_messages)
        except (ServerError, OSError, ValueError) as failure:
            print(f"  {model} failed: {failure}", file=sys.stderr)
            failed.append(model)
            continue
        results.append(result)
        (out / f"{model}.json").write_text(json.dumps(result, indent=2) + "\n")
    table = format_table(results, manifest)
    (out / "report.md").write_text(table + "\n![64-byte ping-pong round trip](pingpong.png)\n")
    if results:
        draw_chart(results, manifest, out / "pingpong.png")
    print(table)
    print(f"results in {out}", file=sys.stderr)
    return 1 if failed else 0


def format_table(results, manifest):
    lines = [f"# Quick benchmark: 64-byte ping-pong, one connection ({manifest['wine']}, "
             f"{manifest['cpu_count']} CPUs, {manifest['client']} client)", "",
             "| server | platform | round trips | mean RTT (us) | p50 (us) | p99 (us) | server CPU (s) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in sorted(results, key=lambda r: r["mean_rtt_us"]):
        lines.append(f"| {r['model']} | {r['platform']} | {r['messages']} | {r['mean_rtt_us']:.1f} | "
                     f"{r['p50_rtt_us']:.1f} | {r['p99_rtt_us']:.1f} | {r['server_cpu_s']:.2f} |")
    return "\n".join(lines) + "\n"


def draw_chart(results, manifest, path):
    """Round-trip time per server: bar = median, whisker = p99."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = sorted(results, key=lambda r: r["p50_rtt_us"])
    names = [r["model"] for r in ordered]
    p50 = [r["p50_rtt_us"] for r in ordered]
    p99 = [r["p99_rtt_us"] for r in ordered]
    colours = ["#888888" if r["platform"] == "linux-native" else "#1f77b4" for r in ordered]
    figure, axes = plt.subplots(figsize=(8, 0.5 * len(ordered) + 1.6))
    axes.barh(names, p50, color=colours, xerr=[[0] * len(p50), [b - a for a, b in zip(p50, p99)]],
              capsize=4, error_kw={"elinewidth": 1})
    for y, value in enumerate(p50):
        axes.text(value, y, f"{value:.0f} ", va="center", ha="right", fontsize=8, color="white")
    axes.invert_yaxis()
    axes.set_xlabel("round-trip time (\u00b5s): bar = median, whisker = p99")
    axes.set_title(f"64-byte echo ping-pong, one connection\n{manifest['wine']} (grey: native Linux epoll), "
                   f"{manifest['cpu_count']} CPUs", fontsize=10)
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
