#!/usr/bin/env bash
# edgevision anonymize vs the source documents' Python recipe (cv2 Haar 1.1/5 + Gaussian
# blur), same video, same machine, same run, alternating, RUNS times each; prints the median
# FPS of both and the ratio. Usage:
#   bench/anonymize_vs_python.sh [VIDEO] [RUNS] [MAX_FRAMES] [-- extra edgevision anonymize args]
set -euo pipefail
cd "$(dirname "$0")/.."
VIDEO="${1:-../shared/data/video/highway_cars.mp4}"
RUNS="${2:-3}"
MAX_FRAMES="${3:-0}"
shift $(( $# >= 3 ? 3 : $# )) || true
[[ "${1:-}" == "--" ]] && shift
EXTRA=("$@")
BIN=./build/bin/edgevision
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
[[ -x $BIN ]] || { echo "build first: scripts/build.sh" >&2; exit 1; }
export EDGEVISION_MODELS="${EDGEVISION_MODELS:-../shared/models}"

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
py=() ; ev=()
for ((i = 1; i <= RUNS; i++)); do
  p=$(/usr/bin/python3 bench/python_anonymize_recipe.py "$VIDEO" "$OUT/py.avi" "$MAX_FRAMES")
  e=$($BIN --log-level warn anonymize "$VIDEO" -o "$OUT/ev.avi" --json --max-frames "$MAX_FRAMES" "${EXTRA[@]}")
  py+=("$(echo "$p" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["fps"])')")
  ev+=("$(echo "$e" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["fps"])')")
  echo "run $i: python $(printf %.1f "${py[-1]}") fps, edgevision $(printf %.1f "${ev[-1]}") fps" >&2
  last_e="$e"; last_p="$p"
done
py_med=$(printf '%s\n' "${py[@]}" | median)
ev_med=$(printf '%s\n' "${ev[@]}" | median)
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
echo "machine: $cpu, $(nproc) cores"
echo "video:   $VIDEO ($(/usr/bin/python3 -c "import cv2,sys; c=cv2.VideoCapture(sys.argv[1]); print(int(c.get(3)),'x',int(c.get(4)), sep='')" "$VIDEO"))"
echo "python recipe (cv2 Haar 1.1/5 + GaussianBlur): median $(printf %.1f "$py_med") fps over $RUNS runs; last: $last_p"
echo "edgevision anonymize ${EXTRA[*]:-(defaults)}: median $(printf %.1f "$ev_med") fps over $RUNS runs; last: $last_e"
echo "ratio edgevision/python: $(awk -v a="$ev_med" -v b="$py_med" 'BEGIN {printf "%.2fx", a/b}')"
