#!/usr/bin/env bash
# What the scripts share: running a command as root (directly when root, through sudo
# otherwise), installing Debian packages, and saying how long something took. Sourced.

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# Seconds as "7 s" or "10 min 31 s".
human_duration() {
  local s=$1
  if ((s >= 60)); then echo "$((s / 60)) min $((s % 60)) s"; else echo "$s s"; fi
}
