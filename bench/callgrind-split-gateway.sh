#!/usr/bin/env bash
# callgrind of the gateway process of a split devgate, plain or TLS links: Ir per round trip.
# usage: bench/callgrind-split-gateway.sh plain|tls PORT   (BIN=path/to/devgate to pick a build)
# Needs valgrind and a release device-sim; writes /tmp/cg-MODE.out and /tmp/cg-MODE.json.
set -euo pipefail
mode=$1; port=$2
bin=${BIN:-/tmp/devgate-tls-links}
sim="$(dirname "$0")/../target/release/device-sim"
dir=$(mktemp -d)
reg_port=$((port+1))
common="secret = \"bench\"
[register]
listen = \"127.0.0.1:$reg_port\"
[log]
level = \"warn\""
if [[ $mode == tls ]]; then
  $bin cert ca --out $dir/c >/dev/null; $bin cert issue --ca $dir/c --name n --host 127.0.0.1 --out $dir/c >/dev/null
  common="$common
[tls]
ca = \"$dir/c/ca.pem\"
cert = \"$dir/c/n.pem\"
key = \"$dir/c/n.key\"
client_auth = true"
fi
printf '%s\n' "$common" > $dir/r.toml
printf '%s\n[gateway]\ninternal_listen = "127.0.0.1:0"\nlisteners = [{ url = "text://127.0.0.1:%s" }]\n' "$common" $port > $dir/g.toml
printf '%s\n[worker]\nhandler = "echo"\n' "$common" > $dir/w.toml
$bin register --config $dir/r.toml >/dev/null 2>&1 & R=$!
sleep 0.5
valgrind --tool=callgrind --callgrind-out-file=/tmp/cg-$mode.out $bin gateway --config $dir/g.toml >/dev/null 2>$dir/g.err & G=$!
$bin worker --config $dir/w.toml >/dev/null 2>&1 & W=$!
for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
sleep 3
$sim run --target 127.0.0.1:$port --devices 10 --depth 16 --payload 64 --duration 10s --json > /tmp/cg-$mode.json
kill -TERM $W; sleep 1; kill -TERM $G; wait $G || true; kill $R || true
python3 - "$mode" <<'PY'
import json,sys,re
m=sys.argv[1]
g=json.load(open(f"/tmp/cg-{m}.json"))["groups"][0]
txt=open(f"/tmp/cg-{m}.out").read()
ir=int(re.search(r"^summary:\s*(\d+)",txt,re.M).group(1)) if re.search(r"^summary:",txt,re.M) else int(re.search(r"^totals:\s*(\d+)",txt,re.M).group(1))
print(f"{m}: {ir} instructions in the gateway process, {g['received']} round trips, "
      f"{ir / max(g['received'], 1):.0f} per round trip")
PY
