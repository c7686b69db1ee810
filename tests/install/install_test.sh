#!/usr/bin/env bash
# Install test: `cmake --install` into a fresh prefix, moved elsewhere afterwards (so nothing can
# point back into the build tree or the original prefix), must run `edgevision --version` with
# ONNX Runtime from its own lib/; the CPack .deb, unpacked with dpkg -x, likewise, and carries
# the systemd unit, the dashboard, the example config and its maintainer scripts.
# Usage: install_test.sh BUILD_DIR WORK_DIR
set -euo pipefail
build="$(cd "$1" && pwd)" work="$2"
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok   $*"; }
rm -rf "$work"
mkdir -p "$work"
work="$(cd "$work" && pwd)"

cmake --install "$build" --prefix "$work/prefix" >"$work/install.log"
mv "$work/prefix" "$work/moved"
p="$work/moved"
out="$(cd / && env -i PATH=/usr/bin:/bin "$p/bin/edgevision" --version)" || fail "installed edgevision --version"
[[ $out =~ ^edgevision\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "version output: $out"
ok "moved prefix runs: $out"
ort="$(env -i PATH=/usr/bin:/bin ldd "$p/bin/edgevision" | grep onnxruntime)" || fail "no onnxruntime in ldd"
[[ $ort == *"$p/bin/../lib/"* ]] || fail "ONNX Runtime not from the prefix: $ort"
ok "ONNX Runtime from the prefix: ${ort##*=> }"
readelf -d "$p/bin/edgevision" | grep -q 'R.*PATH.*\[\$ORIGIN/../lib\]' || fail "RUNPATH is not \$ORIGIN/../lib"
! readelf -d "$p/bin/edgevision" | grep -q "$build" || fail "RUNPATH points into the build tree"
for f in share/edgevision/web/index.html share/edgevision/web/app.js \
         share/edgevision/examples/edgevision.yaml lib/systemd/system/edgevision.service; do
  [[ -f $p/$f ]] || fail "missing $f"
done
ok "layout: bin/ lib/ share/edgevision/{web,examples} lib/systemd/system"

# The package.
(cd "$build" && cpack -G DEB -B "$work/deb" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack"; }
deb="$(ls "$work"/deb/edgevision_*.deb)"
info="$(dpkg-deb -I "$deb")"
grep -q '^ Depends:.*libopencv' <<<"$info" || fail "Depends lacks the shared libraries: $(grep Depends <<<"$info")"
ok "$(basename "$deb"): $(grep '^ Depends:' <<<"$info" | cut -c1-120)…"
dpkg-deb -x "$deb" "$work/root"
out="$(cd / && env -i PATH=/usr/bin:/bin "$work/root/usr/bin/edgevision" --version)" || fail ".deb edgevision --version"
ok "dpkg -x: usr/bin/edgevision --version: $out"
unit="$work/root/lib/systemd/system/edgevision.service"
[[ -f $unit ]] || unit="$work/root/usr/lib/systemd/system/edgevision.service"
[[ -f $unit ]] || fail "no systemd unit in the package"
for line in 'User=edgevision' 'Restart=on-failure' 'ExecReload=/bin/kill -HUP $MAINPID' \
            'ExecStart=/usr/bin/edgevision run --config /etc/edgevision/edgevision.yaml' \
            'WantedBy=multi-user.target'; do
  grep -qxF "$line" "$unit" || fail "unit lacks: $line"
done
ok "systemd unit: own user, restart on failure, reload on SIGHUP"
[[ -f $work/root/usr/share/edgevision/web/index.html ]] || fail "no dashboard in the package"
[[ -f $work/root/usr/share/edgevision/examples/edgevision.yaml ]] || fail "no example config"
dpkg-deb -e "$deb" "$work/control"
[[ -x $work/control/postinst ]] && grep -q 'adduser --system' "$work/control/postinst" || fail "postinst"
ok "postinst creates the user, installs the config, enables the service"
echo "all install checks passed"
