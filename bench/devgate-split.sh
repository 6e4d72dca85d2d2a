#!/usr/bin/env bash
# devgate as three processes (register, gateway, echo worker) linked over loopback TCP, with a
# text listener on 127.0.0.1:PORT, for bench/compare.sh:  --server-b 'bench/devgate-split.sh {port}'
# Runs until killed; kills its children with it.
set -euo pipefail
port="$1"; proto="${2:-text}"
bin="$(dirname "$0")/../target/release/devgate"
dir=$(mktemp -d)
reg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
common="secret = \"bench\"
[register]
listen = \"127.0.0.1:$reg_port\"
[log]
level = \"warn\""
printf '%s\n' "$common" > "$dir/register.toml"
printf '%s\n[gateway]\ninternal_listen = "127.0.0.1:0"\nlisteners = [{ url = "%s://127.0.0.1:%s" }]\n' "$common" "$proto" "$port" > "$dir/gateway.toml"
printf '%s\n[worker]\nhandler = "echo"\n' "$common" > "$dir/worker.toml"
trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT INT TERM
"$bin" register --config "$dir/register.toml" & sleep 0.3
"$bin" gateway --config "$dir/gateway.toml" &
"$bin" worker --config "$dir/worker.toml" &
wait
