#!/usr/bin/env bash
# Peak RSS over time of one `trailpipe ingest` run: samples /proc/PID/status every 0.1 s and
# prints "seconds:MB" for each 2-second window. Shows whether memory creeps up during a run
# (heap fragmentation, a leak) or spikes (a big object), which one peak figure cannot tell.
#
# Usage: scripts/rss-timeline.sh CORPUS_DIR [ingest flags...]
#   e.g. scripts/rss-timeline.sh target/bench-corpus-1000mb-3a2r2d-s1
set -euo pipefail
bin="${TRAILPIPE_BIN:-$(dirname "$0")/../target/release/trailpipe}"
corpus="$1"
shift
lake="$(mktemp -d)"
trap 'rm -rf "$lake"' EXIT
"$bin" ingest "$corpus" --lake "$lake/lake" "$@" >/dev/null 2>&1 &
pid=$!
start=$(date +%s%N)
window=0
max=0
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status" 2>/dev/null || true)
  if [ -n "$rss" ] && [ "$rss" -gt "$max" ]; then max=$rss; fi
  now=$(( ($(date +%s%N) - start) / 2000000000 ))
  if [ "$now" -ne "$window" ]; then
    printf '%s:%s ' $((window * 2)) "$max"
    window=$now
    max=0
  fi
  sleep 0.1
done
if [ "$max" -gt 0 ]; then printf '%s:%s' $((window * 2)) "$max"; fi
echo
wait "$pid"
