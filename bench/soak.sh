#!/usr/bin/env bash
# 10-minute soak of `edgevision run` on a looping file camera (not part of the test suite).
# Samples the service's RSS every 30 s and prints the first and last samples and the growth;
# memory must be flat. Usage: bench/soak.sh [BUILD_DIR] [SECONDS] [SOURCE]
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$here/build}"
duration="${2:-600}"
source="${3:-/usr/share/doc/opencv-doc/examples/data/vtest.avi}"
bin="$build/bin/edgevision"
models="${EDGEVISION_SOAK_MODELS:-$here/../shared/models}"
[[ -x "$bin" ]] || { echo "no $bin (build first)"; exit 1; }
[[ -f "$source" ]] || { echo "no source $source"; exit 1; }

work="$(mktemp -d /tmp/edgevision-soak.XXXXXX)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
cat >"$work/soak.yaml" <<EOF
cameras:
  - id: soak
    source: $source
    loop: true
    fps: 15
detection:
  classes: [person]
  motion_gating: true
events:
  spool_dir: $work/spool
  log: false
  jsonl: {path: $work/events.jsonl, rotate_bytes: 1MiB, keep: 2}
api:
  enabled: false
models:
  dirs: [$models]
EOF

"$bin" run --config "$work/soak.yaml" >"$work/run.log" 2>&1 &
pid=$!
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }

sleep 30  # models loaded, first loop through the file, allocator warmed up
declare -a samples
t=30
while (( t <= duration )); do
  kill -0 "$pid" 2>/dev/null || { echo "edgevision exited early:"; tail -20 "$work/run.log"; exit 1; }
  kb="$(rss_kb)"
  samples+=("$kb")
  printf 't=%4ds  rss=%7.1f MiB\n' "$t" "$(echo "$kb/1024" | bc -l)"
  (( t + 30 > duration )) && break
  sleep 30
  t=$((t + 30))
done
kill -TERM "$pid"
wait "$pid" || true
trap - EXIT

first="${samples[0]}"
last="${samples[${#samples[@]}-1]}"
events="$(cat "$work"/events.jsonl* 2>/dev/null | wc -l)"
printf 'RSS start %.1f MiB, end %.1f MiB, growth %+.1f MiB over %d s; %s events written\n' \
  "$(echo "$first/1024" | bc -l)" "$(echo "$last/1024" | bc -l)" \
  "$(echo "($last-$first)/1024" | bc -l)" "$duration" "$events"
grep -c "frames_in" "$work/run.log" >/dev/null || true
echo "work dir: $work"
