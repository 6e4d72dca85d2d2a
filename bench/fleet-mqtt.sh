#!/usr/bin/env bash
# A GT06 fleet against `devgate start` on the example rules with the MQTT bridge, and in the
# same run the same fleet against handler = "echo": device-sim's acks per second and ack
# latency for both, and for the rules run the locations a QoS 1 subscriber on
# devices/+/location receives (distinct, and per second between the first and the last).
#   bench/fleet-mqtt.sh [DEVICES] [RATE] [DURATION]   (default 2000 20 8s)
# Starts its own Mosquitto on a free loopback port: the system one (like any default Mosquitto)
# queues at most 1,000 messages per subscriber and drops the rest when the subscriber falls
# behind, which a loaded 2-core machine makes it do. Needs mosquitto and mosquitto_sub.
set -euo pipefail
cd "$(dirname "$0")/.."
devices="${1:-2000}"; rate="${2:-20}"; duration="${3:-8s}"
sim=target/release/device-sim
# CPU seconds (user + system) of a process, or of each thread of one with `threads`.
cpu() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
thread_cpu() { for t in /proc/"$1"/task/*; do printf '%s %s\n' "$(cat "$t/comm")" "$(awk '{ print $14 + $15 }' "$t/stat")"; done 2>/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

fleet() { # label, port
  "$sim" run --proto gt06 --target "127.0.0.1:$2" --devices "$devices" --rate "$rate" \
    --duration "$duration" --id-base "$base" 2>&1 | grep -E "throughput|latency|acks " | sed "s/^/$1 /"
}

base=$((860000000000000 + RANDOM * 1000000))
port=$(free_port)
setsid bench/devgate-start.sh "$port" gt06 >/dev/null 2>&1 &
echo_pid=$!
sleep 1.5
dg=$(pgrep -s "$echo_pid" -x devgate || true)
before_echo=$(cpu "$dg")
fleet echo "$port"
printf 'echo cpu: devgate %.1f s\n' "$(echo "$(cpu "$dg") - $before_echo" | bc)"
kill -- -"$echo_pid" 2>/dev/null || true
sleep 3

base=$((base + 10000000))
port=$(free_port)
out=$(mktemp)
bport=$(free_port)
bconf=$(mktemp)
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 0\npersistence false\n' "$bport" > "$bconf"
mosquitto -c "$bconf" >/dev/null 2>&1 &
mosq=$!
sleep 0.5
broker="127.0.0.1:$bport"
mosquitto_sub -h "${broker%:*}" -p "${broker#*:}" -q 1 -t 'devices/+/location' -F '%U %p' > "$out" &
sub=$!
log=$(mktemp)
DEVGATE_LOG=info DEVGATE_HANDLER=rules DEVGATE_MQTT="$broker" setsid bench/devgate-start.sh "$port" gt06 >/dev/null 2>"$log" &
rules_pid=$!
sleep 1.5
dg=$(pgrep -s "$rules_pid" -x devgate || true)
declare -A before; for p in $mosq $sub $dg; do before[$p]=$(cpu "$p"); done
thread_cpu "$dg" > "$log.threads0"
fleet rules "$port"
# Who used the CPU while the fleet ran (2 cores = 2 CPU s per second of run).
for p in $mosq $sub $dg; do
  printf 'rules cpu: %s %.1f s\n' "$(cat /proc/$p/comm 2>/dev/null)" "$(echo "$(cpu "$p") - ${before[$p]}" | bc)"
done
thread_cpu "$dg" | awk 'NR==FNR { b[$1] += $2; next } { a[$1] += $2 } END { for (k in a) if (a[k] - b[k] > 20) printf "rules cpu: devgate thread %s %.1f s\n", k, (a[k] - b[k]) / 100 }' "$log.threads0" - | sort
rm -f "$log.threads0"
# The bridge drains what is still in the outbox; stop when nothing new came for 2 s.
last=-1
while [[ $(wc -l < "$out") != "$last" ]]; do last=$(wc -l < "$out"); sleep 2; done
kill "$sub" 2>/dev/null || true
kill -TERM -- -"$rules_pid" 2>/dev/null || true
sleep 1
grep -o 'events=.*' "$log" | sed 's/^/rules pipeline: /' || true
kill "$mosq" 2>/dev/null || true
rm -f "$bconf" "$log"
python3 - "$out" "$base" <<'PY'
import json, sys
lo = int(sys.argv[2]); seen = set(); first = last = None; n = 0
for line in open(sys.argv[1]):
    ts, _, payload = line.partition(" ")
    try:
        p = json.loads(payload)
    except ValueError:
        continue
    if not str(p.get("uid", "")).isdigit() or not lo <= int(p["uid"]) < lo + 10000000:
        continue
    n += 1
    seen.add(p.get("msg_id"))
    t = float(ts); first = t if first is None else first; last = t
span = (last - first) if first is not None else 0
print(f"rules subscriber: {n} messages, {len(seen)} distinct msg_ids, "
      f"{len(seen) / span if span else 0:,.0f}/s over {span:.1f} s")
PY
rm -f "$out"
