#!/usr/bin/env bash
# CTest entry for the dashboard test: installs playwright-core (pinned by package-lock.json) into
# the build tree once, then runs dashboard_test.cjs. Exit 77 (skipped) when Chromium or node is
# not installed. Usage: run_test.sh FAKE_SERVICE_BINARY WEB_DIR WORK_DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fake="$1" web="$2" work="$3"
chromium="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x $chromium ]] || ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIP: needs $chromium, node and npm (scripts/install_deps.sh installs them)"
  exit 77
fi
mkdir -p "$work"
# Reinstall only when the lock file changed; npm ci wipes node_modules each time otherwise.
if ! cmp -s "$here/package-lock.json" "$work/package-lock.json" || [[ ! -d $work/node_modules/playwright-core ]]; then
  cp "$here/package.json" "$here/package-lock.json" "$work/"
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error)
fi
exec node "$here/dashboard_test.cjs" "$fake" "$web" "$work"
