#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs every test with CTest.
# Test assets come from ../shared (models and media); the product itself never reads them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
cd "${EDGEVISION_BUILD_DIR:-build}"
ctest --output-on-failure -j 2 --timeout 600
