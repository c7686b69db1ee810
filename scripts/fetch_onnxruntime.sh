#!/usr/bin/env bash
# Fetches the official ONNX Runtime Linux x64 build from the npm registry package
# com.github.asus4.onnxruntime, checks the tarball's sha256 and unpacks the library and C/C++
# headers into a cache. Prints the install prefix (include/, lib/) on stdout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/npm_pack_verified.sh"
PKG="com.github.asus4.onnxruntime@0.4.9"
SHA256="e59788788818fdde1b2e522e766a21ba0f7d8391de55737abf81e32cc801785d"
ORT_VERSION="1.29.0"
CACHE_ROOT="${EDGEVISION_CACHE_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/edgevision}"
PREFIX="$CACHE_ROOT/onnxruntime-$ORT_VERSION"

if [[ -f "$PREFIX/.complete" ]]; then echo "$PREFIX"; exit 0; fi
npm_pack_verified fetch_onnxruntime "$PKG" "$SHA256"
tgz="$NPM_TGZ"
work="$NPM_WORK"
hdr="package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64_x86_64-simulator/onnxruntime.framework/Headers"
tar -xzf "$tgz" -C "$work" "package/Plugins/Linux/x64" "$hdr"
rm -rf "$PREFIX.tmp" && mkdir -p "$PREFIX.tmp/include" "$PREFIX.tmp/lib"
cp "$work/$hdr"/*.h "$PREFIX.tmp/include/"
cp "$work/package/Plugins/Linux/x64/"*.so "$PREFIX.tmp/lib/"
ln -sf libonnxruntime.so "$PREFIX.tmp/lib/libonnxruntime.so.1"
echo "$ORT_VERSION $PKG $SHA256" > "$PREFIX.tmp/.complete"
rm -rf "$PREFIX" && mv "$PREFIX.tmp" "$PREFIX"
echo "$PREFIX"
