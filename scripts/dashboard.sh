#!/usr/bin/env bash
# Builds the admin dashboard (admin-ui/ → admin-ui/dist) with Trunk, first installing what the
# build needs when it is missing: the wasm32 target, trunk, the wasm-bindgen CLI of the version
# in Cargo.lock, and binaryen's wasm-opt. Sourced by scripts/run.sh and scripts/test.sh.
set -euo pipefail

TRUNK_VERSION=0.21.14
# Debian's binaryen (108) rewrites wasm-bindgen's externref table as anyref, and the app then
# fails to start in the browser; the wasm-opt crate builds binaryen 116, which keeps it.
WASM_OPT_CRATE_VERSION=0.116.1
WASM_OPT_VERSION=116

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

dashboard_log() { echo "dashboard: $*" >&2; }

ensure_dashboard_tools() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    dashboard_log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown >&2
  fi
  if ! trunk --version 2>/dev/null | grep -q " $TRUNK_VERSION\$"; then
    dashboard_log "installing trunk $TRUNK_VERSION (takes about 10 minutes once)"
    cargo install trunk --version "$TRUNK_VERSION" --locked >&2
  fi
  local bindgen
  bindgen=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $bindgen\$"; then
    dashboard_log "installing wasm-bindgen-cli $bindgen (the version in Cargo.lock)"
    cargo install wasm-bindgen-cli --version "$bindgen" >&2
  fi
  if ! wasm-opt --version 2>/dev/null | grep -q "version $WASM_OPT_VERSION"; then
        if ! command -v g++ >/dev/null 2>&1; then
      dashboard_log "installing g++ (binaryen is C++)"
      local sudo=""
      if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
      $sudo apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq g++ >&2
    fi
    dashboard_log "installing binaryen $WASM_OPT_VERSION's wasm-opt (takes several minutes once)"
    cargo install wasm-opt --version "$WASM_OPT_CRATE_VERSION" --locked >&2
  fi
}

build_dashboard() {
  ensure_dashboard_tools
  dashboard_log "building admin-ui/dist (trunk build --release)"
  trunk build --release --locked >&2
  local wasm
  wasm=$(ls admin-ui/dist/*.wasm)
  dashboard_log "admin-ui/dist ready; $(basename "$wasm") is $(stat -c %s "$wasm") bytes"
}
