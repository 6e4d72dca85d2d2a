#!/usr/bin/env bash
# Watches a large idle run: every INTERVAL seconds one line with the time, the gateways'
# connections (open sockets summed over the processes in PIDFILE) and RSS, the machine's
# available memory, kernel slab memory and TCP sockets (/proc/net/sockstat). Stops the run
# (SIGTERM to STOP_PID's process group, e.g. device-sim) when available memory falls under
# MIN_AVAILABLE_MB (default 3072), since other work shares the machine.
#
#   bench/fleet-watch.sh PIDFILE STOP_PID [INTERVAL]
# Ends when STOP_PID is gone.
set -euo pipefail
pidfile="$1"; stop_pid="$2"; interval="${3:-10}"
min_mb="${MIN_AVAILABLE_MB:-3072}"
start=$(date +%s)
echo "secs  gw_sockets  gw_rss_MB  max_fds_per_gw  avail_MB  slab_MB  sunreclaim_MB  tcp_inuse  tcp_alloc  tcp_mem_pages  conntrack"
while kill -0 "$stop_pid" 2>/dev/null; do
  socks=0; rss=0; maxfd=0
  while read -r pid; do
    [[ -d /proc/$pid ]] || continue
    n=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 -lname 'socket:*' 2>/dev/null | wc -l)
    socks=$((socks + n)); ((n > maxfd)) && maxfd=$n
    rss=$((rss + $(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")))
  done < "$pidfile"
  avail=$(awk '/^MemAvailable:/ {print int($2/1024)}' /proc/meminfo)
  slab=$(awk '/^Slab:/ {print int($2/1024)}' /proc/meminfo)
  sunr=$(awk '/^SUnreclaim:/ {print int($2/1024)}' /proc/meminfo)
  read -r inuse alloc mem < <(awk '/^TCP:/ {print $3, $9, $11}' /proc/net/sockstat)
  ct=$(cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo -)
  echo "$(( $(date +%s) - start ))  $socks  $((rss / 1024))  $maxfd  $avail  $slab  $sunr  $inuse  $alloc  $mem  $ct"
  if ((avail < min_mb)); then
    echo "available memory ${avail} MB < ${min_mb} MB: stopping the run"
    kill -TERM -- "-$stop_pid" 2>/dev/null || kill -TERM "$stop_pid" 2>/dev/null || true
    break
  fi
  sleep "$interval"
done
