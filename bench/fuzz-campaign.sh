#!/usr/bin/env bash
# A fuzz campaign: every cargo-fuzz target (or those named) for SECS seconds each, two at a time,
# at low priority, then one summary line per target from libFuzzer's final lines.
#
#   bench/fuzz-campaign.sh [--secs 600] [--jobs 2] [--logs DIR] [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); runs on the toolchain cargo picks
# (RUSTUP_TOOLCHAIN=nightly to choose nightly, as the recorded campaign did). Builds once without a
# sanitizer (`--sanitizer none`: the targets are safe Rust, and ASan would halve exec/s).
# Corpora grow in fuzz/corpus/TARGET and crashes land in fuzz/artifacts/TARGET (both ignored by
# git). Summary columns: target, executions, exec/s, cov, ft, corpus entries, corpus bytes,
# crash files. `--summary-only` prints the summary of the logs already in DIR.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=600; jobs=2; logs=/tmp/devgate-fuzz; summary_only=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --secs) secs="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --logs) logs="$2"; shift 2 ;;
    --summary-only) summary_only=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then mapfile -t targets < <(cargo fuzz list); fi
mkdir -p "$logs"

if [[ $summary_only -eq 0 ]]; then
  nice -n 15 cargo fuzz build --sanitizer none
  printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} sh -c \
    "nice -n 15 cargo fuzz run --sanitizer none {} -- -max_total_time=$secs \
       -rss_limit_mb=2048 -print_final_stats=1 > '$logs/{}.log' 2>&1 \
     || echo 'exit status' \$? >> '$logs/{}.log'"
fi

printf '%-20s %12s %8s %6s %7s %7s %10s %7s\n' target executions exec/s cov ft corpus bytes crashes
for t in "${targets[@]}"; do
  log="$logs/$t.log"
  [[ -f $log ]] || { echo "$t: no log"; continue; }
  # The last status line ("#N DONE cov: C ft: F corp: E/B exec/s: X ...") carries the totals.
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)
  eps=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log" | tail -1)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+)\/([0-9]+[a-zA-Z]*).*/\1 \2/p' <<<"$last")
  crashes=$(find "artifacts/$t" -type f 2>/dev/null | wc -l)
  printf '%-20s %12s %8s %6s %7s %7s %10s %7s\n' "$t" "${runs:-?}" "${eps:-?}" "${cov:-?}" \
    "${ft:-?}" "${corp%% *}" "${corp##* }" "$crashes"
done
