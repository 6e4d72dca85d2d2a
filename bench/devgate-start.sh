#!/usr/bin/env bash
# devgate `start` (register + gateway + echo worker in one process) with a text listener on
# 127.0.0.1:PORT, for bench/compare.sh:  --server-b 'bench/devgate-start.sh {port}'
# DEVGATE_BIN overrides the binary (A/B of two builds). DEVGATE_HANDLER=rules runs the rules
# handler with DEVGATE_RULES (default examples/rules.toml) and a fresh data_dir, plus
# DEVGATE_MQTT=host:port for the MQTT bridge (DEVGATE_MQTT_INFLIGHT its window); DEVGATE_LOG sets the log level (warn).
set -euo pipefail
port="$1"; proto="${2:-text}"
dir=$(mktemp -d)
cat > "$dir/start.toml" <<TOML
[register]
listen = "127.0.0.1:0"
[gateway]
internal_listen = "127.0.0.1:0"
listeners = [{ url = "$proto://127.0.0.1:$port" }]
[log]
level = "${DEVGATE_LOG:-warn}"
[worker]
handler = "${DEVGATE_HANDLER:-echo}"
TOML
if [[ "${DEVGATE_HANDLER:-echo}" == rules ]]; then
  rules="${DEVGATE_RULES:-$(cd "$(dirname "$0")/.." && pwd)/examples/rules.toml}"
  printf 'rules = "%s"\ndata_dir = "%s/data"\n' "$rules" "$dir" >> "$dir/start.toml"
  if [[ -n "${DEVGATE_MQTT:-}" ]]; then
    printf '[worker.mqtt]\nbroker = "%s"\nclient_id = "bench-%s"\n' "$DEVGATE_MQTT" "$$" >> "$dir/start.toml"
    if [[ -n "${DEVGATE_MQTT_INFLIGHT:-}" ]]; then printf 'inflight = %s\n' "$DEVGATE_MQTT_INFLIGHT" >> "$dir/start.toml"; fi
  fi
fi
exec "${DEVGATE_BIN:-$(dirname "$0")/../target/release/devgate}" start --config "$dir/start.toml"
