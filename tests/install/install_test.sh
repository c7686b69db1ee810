#!/usr/bin/env bash
# Install test: `cmake --install` into a fresh prefix, moved elsewhere afterwards (so nothing can
# point back into the build tree or the original prefix), must run `edgevision --version` with
# ONNX Runtime from its own lib/; the CPack .deb, unpacked with dpkg -x, likewise, and carries
# the systemd unit, the dashboard, the example config and its maintainer scripts; then dpkg
# installs it (unpack) into a fresh root with its own database and the installed binary runs.
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
# dpkg -i into a fresh root (its own dpkg database; no root privileges needed): the package
# unpacks and registers, then the installed binary serves a short run from that root with its
# own dashboard and shipped face model. Maintainer scripts are not run: dpkg runs them chrooted
# into the root, which needs a whole Debian there (their content is checked above instead).
R="$work/fresh-root"
mkdir -p "$R/var/lib/dpkg/updates" "$R/var/lib/dpkg/info"
: >"$R/var/lib/dpkg/status"
dpkg --root="$R" --force-not-root --force-depends --log=/dev/null --unpack "$deb" >"$work/dpkg.log" 2>&1 ||
  { cat "$work/dpkg.log"; fail "dpkg --root --unpack"; }
status="$(dpkg --root="$R" -s edgevision | grep '^Status:')"
[[ $status == 'Status: install ok unpacked' ]] || fail "dpkg status in the fresh root: $status"
listed="$(dpkg --root="$R" -L edgevision)"
for f in /usr/bin/edgevision /usr/share/edgevision/web/index.html /lib/systemd/system/edgevision.service; do
  grep -qxF "$f" <<<"$listed" || grep -qxF "/usr$f" <<<"$listed" || fail "dpkg -L lacks $f"
  [[ -e $R$f || -e $R/usr$f ]] || fail "$f not installed in the fresh root"
done
ok "dpkg --root: installed and registered ($status, $(wc -l <<<"$listed") paths)"
out="$(cd / && env -i PATH=/usr/bin:/bin "$R/usr/bin/edgevision" --version)" || fail "installed --version"
ok "fresh root: usr/bin/edgevision --version: $out"

# A short run of the installed binary: one file camera (anonymize only), the REST API on a free
# port, the dashboard from the package's share/edgevision/web.
video="${EV_SHARED_DIR:-$build/../../shared}/data/video/otb_crossing/crossing.avi"
[[ -f $video ]] || fail "test video missing: $video"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
printf '%s\n' "cameras:" "  - id: door" "    source: $video" "    loop: true" "    detect: false" \
  "events:" "  spool_dir: $work/spool" "api:" "  enabled: true" "  listen: 127.0.0.1" \
  "  port: $port" >"$work/run.yaml"
(cd / && exec env -i PATH=/usr/bin:/bin HOME="$work" "$R/usr/bin/edgevision" run \
  --config "$work/run.yaml" --duration 10 >"$work/run.out" 2>"$work/run.err") &
pid=$!
health=""
for _ in $(seq 1 50); do
  sleep 0.1
  health="$(curl -s "http://127.0.0.1:$port/health" || true)"
  [[ $health == *'"status":"ok"'* ]] && break
done
page="$(curl -s "http://127.0.0.1:$port/" || true)"
# /health is up before the first frame has gone through the face model (a loaded CI box takes
# seconds for that): the snapshot answers 503 "no frame yet" until then, so ask until it is there.
snap=""
for _ in $(seq 1 60); do
  snap="$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "http://127.0.0.1:$port/cameras/door/snapshot.jpg" || true)"
  [[ $snap == '503 '* ]] || break
  sleep 0.1
done
rc=0
wait "$pid" || rc=$?
[[ $rc -eq 0 ]] || { tail -20 "$work/run.err"; fail "installed run exited $rc"; }
[[ $health == *'"status":"ok"'* ]] || { tail -20 "$work/run.err"; fail "/health of the installed run: $health"; }
[[ $page == *'<title>edgevision</title>'* ]] || fail "dashboard not served from the package"
[[ $snap == '200 image/jpeg' ]] || fail "snapshot of the installed run: $snap"
ok "fresh root: run --duration 10 exit 0, /health ok, dashboard and an anonymized snapshot served"
echo "all install checks passed"
