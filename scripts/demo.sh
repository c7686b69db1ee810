#!/usr/bin/env bash
# The main job on a built-in default: anonymize the PETS 2009 pedestrian clip that Debian's
# opencv-doc ships. Installs what it needs, builds, runs, prints the JSON summary.
# Usage: scripts/demo.sh [INPUT] [OUTPUT]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
INPUT="${1:-/usr/share/doc/opencv-doc/examples/data/vtest.avi}"
OUTPUT="${2:-out/vtest_anonymized.avi}"
mkdir -p "$(dirname "$OUTPUT")"
./build/bin/edgevision anonymize "$INPUT" -o "$OUTPUT" --json
echo "anonymized video written to $OUTPUT" >&2
