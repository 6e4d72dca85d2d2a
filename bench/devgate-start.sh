#!/usr/bin/env bash
# devgate `start` (register + gateway + echo worker in one process) with a text listener on
# 127.0.0.1:PORT, for bench/compare.sh:  --server-b 'bench/devgate-start.sh {port}'
# DEVGATE_BIN overrides the binary (A/B of two builds).
set -euo pipefail
port="$1"; proto="${2:-text}"
dir=$(mktemp -d)
cat > "$dir/start.toml" <<TOML
[register]
listen = "127.0.0.1:0"
[gateway]
internal_listen = "127.0.0.1:0"
listeners = [{ url = "$proto://127.0.0.1:$port" }]
[worker]
handler = "echo"
[log]
level = "warn"
TOML
exec "${DEVGATE_BIN:-$(dirname "$0")/../target/release/devgate}" start --config "$dir/start.toml"
