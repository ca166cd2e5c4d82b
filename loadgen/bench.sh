#!/bin/sh
# A quick look at loadgen against the Linux reference echo server: 64-byte
# ping-pong on 1 and 64 connections, and a depth-16 pipeline. Prints the
# figures; asserts nothing. Usage: loadgen/bench.sh [SECONDS]
#   LOADGEN=path/to/loadgen  SERVER=path/to/reference-epoll  override the builds used.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-5}
loadgen=${LOADGEN:-$root/build/native/loadgen/loadgen}
server=${SERVER:-$root/build/native/servers/reference-epoll/reference-epoll}
for exe in "$loadgen" "$server"; do
    [ -x "$exe" ] || { echo "bench.sh: $exe is not built (cmake --preset native && cmake --build --preset native)" >&2; exit 2; }
done

work=$(mktemp -d)
fifo=$work/stdin
mkfifo "$fifo"
# The server stops at end-of-file on its stdin: holding the fifo open on
# descriptor 3 keeps it running, and closing it (at exit) stops it.
"$server" --port 0 <"$fifo" >"$work/server.out" 2>/dev/null &
exec 3>"$fifo"
trap 'exec 3>&-; wait; rm -rf "$work"' EXIT
port=
for _ in $(seq 50); do
    port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$work/server.out")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { echo "bench.sh: the server did not start" >&2; exit 1; }

printf '%-28s %12s %10s %10s %8s\n' workload msg/s p50_us p99_us errors
run() {
    label=$1; shift
    "$loadgen" --port "$port" --duration "$seconds" --warmup 1 --json "$work/r.json" "$@" 2>/dev/null || true
    python3 - "$work/r.json" "$label" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:<28} {d['messages_per_s']:12.0f} {d['latency_us']['p50']:10.1f} "
      f"{d['latency_us']['p99']:10.1f} {sum(d['errors'].values()):8d}")
PY
}
run "pingpong, 1 connection" --workload pingpong --connections 1
run "pingpong, 64 connections" --workload pingpong --connections 64
run "pipeline depth 16, 1 conn" --workload pipeline --connections 1 --depth 16
