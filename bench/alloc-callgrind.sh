#!/usr/bin/env bash
# CPU cost of several devgate builds (e.g. one per allocator) in instructions, which other work
# on the machine does not skew: each build runs `devgate start` (echo handler) under
# valgrind --tool=callgrind while device-sim sends LOAD; prints the process's total instructions
# divided by the round trips device-sim got back.
#
#   bench/alloc-callgrind.sh NAME=DEVGATE_BIN ...
#
# LOAD defaults to "--devices 100 --depth 16 --payload 64 --duration 10s". The total includes
# start-up and shutdown (a few million instructions, small against the load). Out files stay
# in $OUT (default /tmp/devgate-callgrind). device-sim: DEVICE_SIM (target/release/device-sim).
set -euo pipefail
cd "$(dirname "$0")/.."
sim="${DEVICE_SIM:-target/release/device-sim}"
load="${LOAD:---devices 100 --depth 16 --payload 64 --duration 10s}"
out="${OUT:-/tmp/devgate-callgrind}"
mkdir -p "$out"
for pair in "$@"; do
  name="${pair%%=*}"; bin="${pair#*=}"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  wrapper="$out/$name.sh"
  printf '#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=%s/%s.out %s "$@"\n' \
    "$out" "$name" "$bin" > "$wrapper"
  chmod +x "$wrapper"
  DEVGATE_BIN="$wrapper" bench/devgate-start.sh "$port" > "$out/$name.log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.1
  done
  # shellcheck disable=SC2086
  "$sim" run --target "127.0.0.1:$port" $load > "$out/$name.sim" 2>&1 || true
  kill -TERM "$pid"
  wait "$pid" || true
  received=$(sed -nE 's/.*received ([0-9,]+)\).*/\1/p' "$out/$name.sim" | tr -d ,)
  total=$(sed -nE 's/^(summary|totals): ([0-9]+).*/\2/p' "$out/$name.out" | tail -1)
  if [[ -z "$received" || -z "$total" || "$received" == 0 ]]; then
    echo "$name: no figures (see $out/$name.sim, $out/$name.log)"; continue
  fi
  echo "$name: $total instructions, $received round trips: $((total / received)) per round trip"
done
