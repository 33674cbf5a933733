#!/usr/bin/env bash
# Builds the admin dashboard (admin-ui/ → admin-ui/dist) with Trunk, first installing what the
# build needs when it is missing: the wasm32 target, trunk, the wasm-bindgen CLI of the version
# in Cargo.lock (cargo install, into CARGO_INSTALL_ROOT when set), and binaryen's wasm-opt from
# the npm package pinned in admin-ui/package-lock.json (no C++ build). Each step says what it
# does, step i of n, and how long it took; a step already done says so. The steps also go to
# admin-ui/dist.progress, which /admin/ shows until the build is there, and the tools' own
# output to target/dashboard-build.log. Run it alone, or sourced by scripts/run.sh and
# scripts/test.sh (which call build_dashboard).
set -euo pipefail

TRUNK_VERSION=0.21.14
# Must match Trunk.toml's [tools] wasm_opt and admin-ui/package.json.
WASM_OPT_VERSION=132
DASHBOARD_STEPS=5
DASHBOARD_DIST=admin-ui/dist
DASHBOARD_PROGRESS=admin-ui/dist.progress
DASHBOARD_LOG=${DASHBOARD_LOG:-target/dashboard-build.log}

DASHBOARD_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$DASHBOARD_ROOT/scripts/common.sh"
# The pinned wasm-opt first: Trunk takes the first on PATH, and an older one may be installed.
export PATH="$DASHBOARD_ROOT/admin-ui/node_modules/.bin:${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin:$PATH"

dashboard_say() { echo "dashboard: $*" >&2; }

# The page /admin/ shows: "building" or "failed", the step, then any detail.
dashboard_progress() {
  printf '%s\n%s\n%s\n' "$1" "$2" "${3:-}" >"$DASHBOARD_PROGRESS.tmp"
  mv "$DASHBOARD_PROGRESS.tmp" "$DASHBOARD_PROGRESS"
}

# Runs one step (number, what it does, how long it usually takes, command...), its output to
# the log; on failure shows the end of the log here and on /admin/.
dashboard_step() {
  local number=$1 what=$2 usually=$3 start=$SECONDS
  shift 3
  local title="step $number of $DASHBOARD_STEPS: $what"
  dashboard_say "$title (usually $usually)"
  dashboard_progress building "Step $number of $DASHBOARD_STEPS: $what (usually $usually)."
  echo "=== $title" >>"$DASHBOARD_LOG"
  if ! "$@" >>"$DASHBOARD_LOG" 2>&1; then
    local last
    last=$(tail -n 30 "$DASHBOARD_LOG")
    dashboard_say "$title: failed after $(human_duration $((SECONDS - start))); the end of $DASHBOARD_LOG:"
    echo "$last" >&2
    dashboard_progress failed "Step $number of $DASHBOARD_STEPS failed: $what. The whole output is in $DASHBOARD_LOG." "$last"
    return 1
  fi
  dashboard_say "$title: done in $(human_duration $((SECONDS - start)))"
}

dashboard_done_already() { dashboard_say "step $1 of $DASHBOARD_STEPS: $2: already done"; }

# The build tools' own release profiles (trunk's: fat LTO, one codegen unit) make the fastest
# binaries at several times the build time; a build tool needs neither.
install_tool() {
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo install "$@"
}

wasm_target_installed() {
  rustup target list --installed 2>/dev/null | grep -x wasm32-unknown-unknown >/dev/null
}

wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock
}

wasm_opt_installed() {
  [ -f admin-ui/node_modules/.package-lock.json ] &&
    [ ! admin-ui/package-lock.json -nt admin-ui/node_modules/.package-lock.json ] &&
    [ "$(command -v wasm-opt)" = "$DASHBOARD_ROOT/admin-ui/node_modules/.bin/wasm-opt" ] &&
    wasm-opt --version 2>/dev/null | grep "(version_$WASM_OPT_VERSION)" >/dev/null
}

# Node.js and npm, which run binaryen's wasm-opt. scripts/run.sh calls this before it starts
# the server: sudo may ask for a password there, not in the build that runs in the background.
ensure_node() {
  if ! command -v npm >/dev/null 2>&1; then
    dashboard_say "installing Node.js and npm with apt-get (they run binaryen's wasm-opt)"
    apt_install nodejs npm >&2
  fi
}

install_wasm_opt() {
  ensure_node && npm ci --prefix admin-ui --no-audit --no-fund && wasm-opt --version
}

# The app, then GraphiQL's files beside it (served only when the server runs with GRAPHIQL=1):
# React and GraphiQL from the npm packages pinned in admin-ui/package-lock.json, and our page's
# start script, so that GraphiQL loads nothing from a third party. Then a brotli and a gzip copy
# of each file, which the server sends to browsers that accept them.
build_app() {
  trunk build --release --locked || return 1
  local to="$DASHBOARD_DIST/graphiql" from=admin-ui/node_modules
  mkdir -p "$to"
  cp "$from/react/umd/react.production.min.js" "$from/react-dom/umd/react-dom.production.min.js" \
    "$from/graphiql/graphiql.min.js" "$from/graphiql/graphiql.min.css" \
    admin-ui/graphiql/start.js admin-ui/graphiql/page.css "$to/"
  node scripts/compress.mjs "$DASHBOARD_DIST"
}

# True when admin-ui/dist holds a build newer than everything it is built from.
dashboard_up_to_date() {
  [ -f "$DASHBOARD_DIST/index.html" ] &&
    [ -f "$DASHBOARD_DIST/graphiql/start.js.br" ] &&
    [ -z "$(find admin-ui/src admin-ui/graphql admin-ui/graphiql admin-ui/index.html admin-ui/style.css \
      admin-ui/Cargo.toml admin-ui/package-lock.json Cargo.toml Cargo.lock Trunk.toml \
      schema.graphql scripts/dashboard.sh scripts/compress.mjs -newer "$DASHBOARD_DIST/index.html" -print -quit)" ]
}

# A build stopped half-way says so on /admin/, rather than "being built" for ever.
dashboard_stopped() {
  dashboard_progress failed "The dashboard build was stopped before it finished. Run scripts/dashboard.sh (or scripts/run.sh) again."
  exit 130
}

build_dashboard() {
  local status=0
  trap dashboard_stopped INT TERM HUP
  dashboard_steps || status=$?
  trap - INT TERM HUP
  return "$status"
}

dashboard_steps() {
  local start=$SECONDS bindgen
  bindgen=$(wasm_bindgen_version)
  mkdir -p "$(dirname "$DASHBOARD_LOG")"
  : >"$DASHBOARD_LOG"

  if wasm_target_installed; then
    dashboard_done_already 1 "the wasm32-unknown-unknown target is installed"
  else
    dashboard_step 1 "adding the wasm32-unknown-unknown target" "under a minute" \
      rustup target add wasm32-unknown-unknown || return 1
  fi
  if trunk --version 2>/dev/null | grep " $TRUNK_VERSION\$" >/dev/null; then
    dashboard_done_already 2 "trunk $TRUNK_VERSION is installed"
  else
    dashboard_step 2 "installing trunk $TRUNK_VERSION with cargo install" "about 8 minutes on 2 cores" \
      install_tool trunk --version "$TRUNK_VERSION" --locked || return 1
  fi
  if wasm-bindgen --version 2>/dev/null | grep " $bindgen\$" >/dev/null; then
    dashboard_done_already 3 "wasm-bindgen $bindgen is installed"
  else
    # Not --locked: a dependency pinned in its lock file is no longer on crates.io.
    dashboard_step 3 "installing wasm-bindgen-cli $bindgen, the version in Cargo.lock" "about 3 minutes" \
      install_tool wasm-bindgen-cli --version "$bindgen" || return 1
  fi
  if wasm_opt_installed; then
    dashboard_done_already 4 "binaryen's wasm-opt $WASM_OPT_VERSION is installed"
  else
    dashboard_step 4 "installing binaryen's wasm-opt $WASM_OPT_VERSION and GraphiQL's files with npm ci" "a few seconds" \
      install_wasm_opt || return 1
  fi
  if dashboard_up_to_date; then
    dashboard_done_already 5 "$DASHBOARD_DIST is newer than its sources"
  else
    dashboard_step 5 "building the dashboard with trunk build --release" "about 3 minutes the first time" \
      build_app || return 1
  fi
  rm -f "$DASHBOARD_PROGRESS"
  local wasm
  wasm=$(ls "$DASHBOARD_DIST"/*.wasm)
  dashboard_say "$DASHBOARD_DIST is ready ($(basename "$wasm"): $(stat -c %s "$wasm") bytes) after $(human_duration $((SECONDS - start)))"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  cd "$DASHBOARD_ROOT"
  build_dashboard
fi
