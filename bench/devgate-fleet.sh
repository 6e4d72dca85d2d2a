#!/usr/bin/env bash
# devgate for fleets above one process's 20,000 open files: a register, N gateway processes
# sharing 127.0.0.1:PORT through SO_REUSEPORT (each with its own internal port) and one echo
# worker.   bench/devgate-fleet.sh PORT N [PROTO]
# DEVGATE_BIN overrides the binary. DEVGATE_LINKS_TLS=1 puts every internal link on TLS
# (a CA and one certificate made with `devgate cert` in the temp dir, client_auth on).
# Writes the gateways' pids, one per line, to $PIDFILE (default /tmp/devgate-fleet.pids) once
# all are up, for `device-sim idle --server-pid`. Runs until killed; kills its children with it.
set -euo pipefail
port="$1"; n="$2"; proto="${3:-text}"
pidfile="${PIDFILE:-/tmp/devgate-fleet.pids}"
bin="${DEVGATE_BIN:-$(dirname "$0")/../target/release/devgate}"
dir=$(mktemp -d)
reg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
common="secret = \"bench\"
[register]
listen = \"127.0.0.1:$reg_port\"
[log]
level = \"warn\""
if [[ "${DEVGATE_LINKS_TLS:-0}" == 1 ]]; then
  "$bin" cert ca --out "$dir/certs" > /dev/null
  "$bin" cert issue --ca "$dir/certs" --name node --host 127.0.0.1 --out "$dir/certs" > /dev/null
  common="$common
[tls]
ca = \"$dir/certs/ca.pem\"
cert = \"$dir/certs/node.pem\"
key = \"$dir/certs/node.key\"
client_auth = true"
fi
printf '%s\n' "$common" > "$dir/register.toml"
printf '%s\n[gateway]\ninternal_listen = "127.0.0.1:0"\nlisteners = [{ url = "%s://127.0.0.1:%s" }]\n' \
  "$common" "$proto" "$port" > "$dir/gateway.toml"
printf '%s\n[worker]\nhandler = "echo"\n' "$common" > "$dir/worker.toml"
trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT INT TERM
"$bin" register --config "$dir/register.toml" > /dev/null & sleep 0.3
: > "$pidfile.tmp"
for _ in $(seq "$n"); do
  "$bin" gateway --config "$dir/gateway.toml" > /dev/null &
  echo $! >> "$pidfile.tmp"
done
"$bin" worker --config "$dir/worker.toml" > /dev/null &
sleep 1
mv "$pidfile.tmp" "$pidfile"
wait
