#!/usr/bin/env bash
# FP32 vs INT8 latency, models alternating in the same run (the box is shared: one bench per
# model per round, ROUNDS rounds, the ratio to FP32 taken within each round, then the median).
# Wall-clock medians are at the mercy of the other processes; the CPU time per inference (the
# process's user+sys over the timed runs / runs; at --threads 1 the work itself) is not, so both
# are printed.
# Usage: bench/int8_latency.sh BIN THREADS ROUNDS FP32.onnx INT8.onnx [MORE.onnx ...]
set -euo pipefail
BIN=$1 THREADS=$2 ROUNDS=$3; shift 3
MODELS=("$@")
OUT=$(mktemp)
for r in $(seq 1 "$ROUNDS"); do
  for m in "${MODELS[@]}"; do
    nice -n 5 "$BIN" --offline bench --model "$m" --runs 30 --warmup 5 --threads "$THREADS" --json 2>/dev/null |
      python3 -c "import json,sys; d=json.load(sys.stdin); print($r, '$m', d['median_ms'], d['cpu_percent'] * d['mean_ms'] / 100)" >>"$OUT"
  done
  echo "round $r done, loadavg $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
python3 - "$OUT" "${MODELS[0]}" <<'PY'
import sys, statistics as st, collections
rows=[l.split() for l in open(sys.argv[1])]
fp32=sys.argv[2]
by=collections.defaultdict(dict)
for r,m,ms,cpu in rows: by[int(r)][m]=(float(ms),float(cpu))
models=[]
for r,m,_,_ in rows:
    if m not in models: models.append(m)
print(f"{'model':44s} {'wall ms':>8s} {'ratio':>6s} {'CPU ms':>7s} {'ratio':>6s}  CPU-ms ratios per round")
for m in models:
    meds=[by[r][m][0] for r in by]
    ratios=[by[r][m][0]/by[r][fp32][0] for r in by]
    cpu=[by[r][m][1] for r in by]
    cratios=[by[r][m][1]/by[r][fp32][1] for r in by]
    print(f"{m[-44:]:44s} {st.median(meds):8.2f} {st.median(ratios):5.2f}x {st.median(cpu):7.2f} {st.median(cratios):5.2f}x  {' '.join(f'{x:.2f}' for x in cratios)}")
PY
rm -f "$OUT"
