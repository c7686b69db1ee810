#!/usr/bin/env bash
# Installs everything edgevision needs to build and test on Debian 12, using only Debian's
# packages (apt-get) and the npm registry (ONNX Runtime, fetched at CMake configure time).
# Idempotent and quick when everything is already there.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libopencv-dev opencv-data opencv-doc python3-opencv python3-numpy
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
  libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev libcpp-httplib-dev
  libturbojpeg0-dev libssl-dev libgtest-dev libgmock-dev libbenchmark-dev
  libonnx-dev libprotobuf-dev protobuf-compiler python3-onnx
  libmosquitto-dev mosquitto prometheus-cpp-dev prometheus libtesseract-dev tesseract-ocr
  nodejs npm chromium ffmpeg
)

have_npm=0
command -v npm >/dev/null 2>&1 && have_npm=1  # node/npm may come from nvm or nodesource
missing=()
for p in "${PACKAGES[@]}"; do
  if [[ $have_npm == 1 && ($p == nodejs || $p == npm) ]]; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install_deps: installing ${missing[*]}" >&2
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
