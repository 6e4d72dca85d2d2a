#!/usr/bin/env bash
# Memory of several devgate builds (e.g. one per allocator), interleaved round by round:
# idle bytes per connection, and RSS after a flood of connections has closed (twice).
#
#   bench/alloc-memory.sh [--rounds 2] [--idle 10000] [--flood 15000] NAME=DEVGATE_BIN ...
#
# Each measurement starts a fresh `devgate start` (bench/devgate-start.sh, echo handler):
#   idle   device-sim idle --devices IDLE --duration 10s --server-pid PID: its
#          "server RSS ... bytes per connection" line
#   flood  RSS (VmRSS) at rest, then device-sim run --devices FLOOD (64 B echo, one message a
#          second each, for FLOOD_SECS, default 15 s, so that every device gets connected):
#          RSS once the gateway's open files are back to where they were, then a second flood
#          and RSS again
# Prints one line per measurement. device-sim: DEVICE_SIM (default target/release/device-sim).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=2; idle=10000; flood=15000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --idle) idle="$2"; shift 2 ;;
    --flood) flood="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
sim="${DEVICE_SIM:-target/release/device-sim}"
server_pid=""
stop() {
  if [[ -n "$server_pid" ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap stop EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# Starts devgate start on a free port; sets server_pid and port once it accepts connections.
start() {
  port=$(free_port)
  DEVGATE_BIN="$1" bench/devgate-start.sh "$port" > /dev/null 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "devgate did not start" >&2; exit 1
}

# Waits (at most 60 s) until the server's open files are back to $1 (its clients closed).
wait_fds() {
  for _ in $(seq 600); do
    if [[ $(fds "$server_pid") -le $1 ]]; then return 0; fi
    sleep 0.1
  done
  echo "  (open files still $(fds "$server_pid"), base $1)"
}

for round in $(seq "$rounds"); do
  for pair in "$@"; do
    name="${pair%%=*}"; bin="${pair#*=}"
    start "$bin"
    line=$("$sim" idle --target "127.0.0.1:$port" --devices "$idle" --duration 10s \
      --server-pid "$server_pid" 2>&1 | grep 'server RSS' || true)
    echo "round $round $name idle $idle: ${line:-no RSS line}"
    stop

    start "$bin"
    sleep 1
    base_fds=$(fds "$server_pid"); rest=$(rss_kb "$server_pid")
    out=""
    for flood_no in 1 2; do
      "$sim" run --target "127.0.0.1:$port" --devices "$flood" --rate 1 --payload 64 \
        --duration "${FLOOD_SECS:-15}s" > /tmp/alloc-memory-flood.log 2>&1 || true
      wait_fds "$base_fds"
      held=$(sed -nE 's/.*connections ([0-9,]+) max open.*/\1/p' /tmp/alloc-memory-flood.log)
      rps=$(sed -nE 's/.*throughput +([0-9,]+) replies.*/\1/p' /tmp/alloc-memory-flood.log)
      out+=" after flood $flood_no ($held open, $rps replies/s) $(rss_kb "$server_pid") kB;"
    done
    echo "round $round $name flood $flood: at rest $rest kB;$out"
    stop
  done
done
