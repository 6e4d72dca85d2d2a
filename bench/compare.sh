#!/usr/bin/env bash
# Compare two servers under the same device-sim load, interleaved A B A B ..., with pauses, and
# print each run's figures, the medians, and the ratio B/A of each back-to-back pair.
#
#   bench/compare.sh [options] -- <device-sim run arguments, without --target>
#
# Options:
#   --server-a CMD   server A (default: device-sim's plain echo server, the physical limit)
#   --server-b CMD   server B; without it only A runs
#   --name-a NAME    label of A (default: echo)       --name-b NAME  label of B (default: B)
#   --rounds N       A/B pairs (default 3)            --pause S      seconds between runs (default 5)
#   --port P         port the servers listen on (default: a free one)
#   --device-sim P   the device-sim binary (default: target/release/device-sim, built if missing)
#
# Server commands are run with bash; `{port}` in them is replaced by the port and `{addr}` by
# 127.0.0.1:{port}. Each server is started fresh for its run and stopped (its whole process
# group) after it. Example, A against itself:
#
#   bench/compare.sh --rounds 3 -- --devices 100 --depth 1 --payload 64 --duration 10s
#
# devgate as B: `devgate start` (all in one process) or register + gateway + worker as
# separate processes:
#   --name-b start --server-b 'bench/devgate-start.sh {port}'
#   --name-b split --server-b 'bench/devgate-split.sh {port}'
#
# On a 2-core machine the load generator and the server share the cores: say so when quoting.
set -euo pipefail
cd "$(dirname "$0")/.."

server_a=""
server_b=""
name_a="echo"
name_b="B"
rounds=3
pause=5
port=""
sim="target/release/device-sim"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --server-a) server_a="$2"; shift 2 ;;
    --server-b) server_b="$2"; shift 2 ;;
    --name-a) name_a="$2"; shift 2 ;;
    --name-b) name_b="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --pause) pause="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --device-sim) sim="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (device-sim arguments go after --)" >&2; exit 2 ;;
  esac
done
load_args=("$@")

if [[ ! -x "$sim" ]]; then
  echo "building device-sim (release)..." >&2
  cargo build -q -p device-sim --release
fi
if [[ -z "$port" ]]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
fi
addr="127.0.0.1:$port"
if [[ -z "$server_a" ]]; then
  server_a="$sim echo-server --listen {addr}"
fi

server_pid=""
stop_server() {
  if [[ -n "$server_pid" ]]; then
    kill -TERM -- "-$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap stop_server EXIT

start_server() {
  local cmd="${1//\{port\}/$port}"
  cmd="${cmd//\{addr\}/$addr}"
  # Job control gives the server a process group of its own, so it is stopped with its children.
  set -m
  bash -c "exec $cmd" >/dev/null 2>&1 &
  server_pid=$!
  set +m
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "server did not listen on $addr: $cmd" >&2
  exit 1
}

# Runs one measurement against a fresh server; sets tp, p99 and bad.
measure() {
  start_server "$1"
  local json
  json=$("$sim" run --target "$addr" "${load_args[@]}" --json)
  stop_server
  read -r tp p99 bad < <(python3 -c '
import json, sys
g = json.loads(sys.stdin.read())["groups"][0]
bad = g["lost"] + g["duplicated"] + g["corrupted"] + g["out_of_order"]
p99 = g["latency_us"]["p99"] / 1000 if g["latency_us"] else float("nan")
print("%.0f %.3f %d" % (g["throughput_per_s"], p99, bad))' <<<"$json")
}

echo "load: device-sim run ${load_args[*]}"
echo "A ($name_a): $server_a"
[[ -n "$server_b" ]] && echo "B ($name_b): $server_b" || echo "B: none (pass --server-b to compare)"
printf '%-6s %14s %9s %14s %9s %8s\n' round "$name_a/s" "p99 ms" "$name_b/s" "p99 ms" "B/A"

a_tp=(); b_tp=(); ratios=()
for r in $(seq "$rounds"); do
  measure "$server_a"
  tp_a=$tp p99_a=$p99 bad_a=$bad
  a_tp+=("$tp_a")
  if [[ "$bad_a" != 0 ]]; then echo "warning: A reported $bad_a bad replies in round $r" >&2; fi
  if [[ -n "$server_b" ]]; then
    sleep "$pause"
    measure "$server_b"
    tp_b=$tp p99_b=$p99 bad_b=$bad
    b_tp+=("$tp_b")
    if [[ "$bad_b" != 0 ]]; then echo "warning: B reported $bad_b bad replies in round $r" >&2; fi
    ratio=$(python3 -c "print(f'{$tp_b/$tp_a:.2f}' if $tp_a else 'nan')")
    ratios+=("$ratio")
    printf '%-6s %14s %9s %14s %9s %8s\n' "$r" "$tp_a" "$p99_a" "$tp_b" "$p99_b" "$ratio"
  else
    printf '%-6s %14s %9s %14s %9s %8s\n' "$r" "$tp_a" "$p99_a" - - -
  fi
  [[ "$r" != "$rounds" ]] && sleep "$pause"
done

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
echo "median $name_a: $(median "${a_tp[@]}") replies/s"
if [[ ${#b_tp[@]} -gt 0 ]]; then
  echo "median $name_b: $(median "${b_tp[@]}") replies/s"
  echo "median ratio B/A of back-to-back pairs: $(median "${ratios[@]}")"
fi
